# Entry points: install, system-deps, proto, build, test (test-unit, test-system), run,
# bench (bench-raft, bench-meta, bench-snapshot, bench-recovery, bench-put, bench-get, bench-get-pattern, bench-cli), clean.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
MOCHA := $(NODE_BIN)/mocha
UNIT_TESTS := 'packages/*/dist/test/**/*.test.js'
SYSTEM_TESTS := 'test/dist/**/*.test.js'
DATA_DIR ?= .dfs-data

.PHONY: all install system-deps proto build test test-unit test-system run bench bench-raft bench-meta bench-snapshot bench-recovery bench-failover bench-put bench-get bench-get-pattern bench-cli trace-small nemesis clean

all: build

# npm ci only when the lock file changed since the last install.
install: node_modules/.install-stamp
node_modules/.install-stamp: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Debian packages the tests need (FUSE, Chromium, iproute2 + nftables for the nemesis); installs them when run as root.
system-deps:
	@scripts/install-system-deps

proto: install
	rm -rf packages/proto/src/gen
	cd proto && ../$(NODE_BIN)/buf generate

build: install proto
	$(NODE_BIN)/tsc --build
	node packages/cli/scripts/bundle.mjs

test: build system-deps
	$(MOCHA) --timeout 60000 --exit $(UNIT_TESTS)
	$(MOCHA) --timeout 180000 --exit $(SYSTEM_TESTS)

test-unit: build
	$(MOCHA) --timeout 60000 --exit $(UNIT_TESTS)

test-system: build system-deps
	$(MOCHA) --timeout 180000 --exit $(SYSTEM_TESTS)

run: build
	@echo "Starting a local cluster in $(DATA_DIR) (3 masters, 4 chunkservers). Ctrl-C stops it."
	@echo "From another shell:  export DFS_MASTERS=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003"
	@echo "                     export DFS_TLS_DIR=$(abspath $(DATA_DIR))/client   # mutual TLS (found automatically at the repo root)"
	@echo "                     npx --no-install dfs put ./some-file /some-file && npx --no-install dfs get /some-file ./copy"
	node packages/cli/bin/dfs.js cluster up --dir $(DATA_DIR) --masters 3 --chunkservers 4

# Everything measured against the machine's own ceilings in the same run:
# data path (put/get, small files), re-replication, master failover, and the FUSE mount.
bench: build system-deps
	node scripts/bench/dist/run.js
	node scripts/bench/dist/recovery.js
	node scripts/bench/dist/failover.js
	node scripts/bench/fuse/bench.js

clean:
	rm -rf packages/*/dist packages/proto/src/gen test/dist
	find . -name '*.tsbuildinfo' -not -path './node_modules/*' -delete

# Raft alone: 3 node processes over gRPC on loopback, SQLite durability, 64 proposers.
# BENCH_RAFT_ARGS="--etcd" also measures etcd 3.4 (apt-get install etcd-server) beside it.
bench-raft: build
	node scripts/bench/raft/run.js $(BENCH_RAFT_ARGS)

# The metadata path alone: 3 masters, 32 clients in 2 processes: creates (empty and 1 KiB, inline),
# 1 KiB reads, mkdirs, stats (linearizable and stale), renames, deletes, ls, each beside the
# client-process ceiling measured in the same run.
# BENCH_META_FILES, BENCH_META_CLIENTS, BENCH_META_PROCS, BENCH_META_SECONDS override the sizes.
bench-meta: build
	node scripts/bench/dist/meta.js

# The write path alone: a put of BENCH_BYTES (1 GiB) from a local file, TLS and --insecure clusters in
# BENCH_PUT_ROUNDS (2) alternating rounds, beside the grpc-js upload ceilings, with CPU s per GiB and
# read/write calls per MiB by role (packages/chunkserver/DESIGN.md). For profiles of every process:
# DFS_NODE_ARGS="--cpu-prof --cpu-prof-dir=D" node --cpu-prof scripts/bench/dist/put.js
bench-put: build
	node scripts/bench/dist/put.js

# What a directory snapshot and a metadata backup cost on a master, beside bare SQLite / file-copy ceilings.
bench-snapshot: build
	node scripts/bench/dist/snapshot.js

# Where one small put and one stat spend their time, hop by hop (packages/master/DESIGN.md), and one
# Raft command taken apart across the processes (DFS_HOP_TRACE). BENCH_TRACE_N (50) operations of each,
# one at a time; BENCH_TRACE_RAFT_N (200) Raft commands; BENCH_TRACE_ONLY=raft stops after those.
trace-small: build
	node scripts/bench/dist/trace.js

# Re-replication after SIGKILLing a chunkserver that holds BENCH_RECOVERY_BYTES (default 2 GiB) of
# replicas: detection time, time to fsck healthy, MB/s. BENCH_RECOVERY_BYTES=268435456 for a quick run.
bench-recovery: build
	node scripts/bench/dist/recovery.js

# The master leader SIGKILLed under a steady mix of gets and puts: kill → first successful get and
# put, longest client stall (goal: under 2 s), beside the same clients' latency before the kill.
# BENCH_FAILOVER_GETTERS, BENCH_FAILOVER_PUTTERS, BENCH_FAILOVER_SECONDS, BENCH_FAILOVER_FOLLOWER_READS=0.
bench-failover: build
	node scripts/bench/dist/failover.js

# The read path alone (issue 17's get, issue 13's TLS cost): BENCH_BYTES (1 GiB) put once on a TLS
# and an --insecure cluster, then BENCH_GET_ROUNDS (3) alternating rounds of library get (null sink, local file) and
# `dfs get` after drop_caches, beside the tuned grpc-js download ceilings and with CPU s per GiB.
# BENCH_PROFILE_DIR=D (+ DFS_NODE_ARGS="--cpu-prof --cpu-prof-dir=D") profiles it (scripts/bench/get.ts).
bench-get: build
	node scripts/bench/dist/get.js

# The get's transport pattern taken apart, nothing of dfs in it (no cluster): client and server CPU
# s/GiB, MB/s, GC and RSS for calls of BENCH_PATTERN_CALL_MIB (4,16,64) MiB with BENCH_PATTERN_IN_FLIGHT
# (1,2,3,6) in flight and one long stream, plaintext and TLS alternating (scripts/bench/get-pattern.ts).
bench-get-pattern: build
	node scripts/bench/dist/get-pattern.js

# The CLI against the library (issue 17): `dfs --version` and a whole `dfs stat` (exec to exit) beside
# `node -e 0`, medians of BENCH_CLI_RUNS (20) alternating runs, wall and CPU ms; then BENCH_CLI_BYTES
# (256 MiB; 0 skips) got and put as `dfs get`/`dfs put`, the library in a fresh process and in a warm
# one, local file to cluster, caches dropped, BENCH_CLI_ROUNDS (2) rounds (packages/cli/DESIGN.md).
bench-cli: build
	node scripts/bench/dist/cli.js

# The partition nemesis, long: SEEDS runs of MINUTES each on a cluster of hosts (network
# namespaces; root only). SEED=S RUN_SECONDS=T replays one run (a failing run prints that command);
# KINDS=isolate-leader,loss,... limits the faults. A failing run's history is kept in nemesis-failures/.
SEEDS ?= 1
MINUTES ?= 5
nemesis: build system-deps
	SEEDS=$(SEEDS) MINUTES=$(MINUTES) SEED=$(SEED) RUN_SECONDS=$(RUN_SECONDS) KINDS=$(KINDS) node test/dist/nemesis/main.js
