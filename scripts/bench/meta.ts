import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DfsClient } from '@dfs/client';
import { INSECURE, tlsFrom } from '@dfs/security';
import { TestCluster } from '@dfs/testkit';
import { cpuSecondsOf } from './lib/cpu.js';
import { noopClient, startNoopServer } from './lib/noop-grpc.js';

/*
 * make bench-meta: the metadata path alone, on a real 3-master Raft group on loopback, with
 * the clients spread over BENCH_META_PROCS worker processes (one Node process's grpc-js
 * caps near a few thousand unary calls/s, so a one-process bench measures itself).
 *
 * Each figure is printed beside the client-process ceiling measured in the same run: the
 * same worker processes, with the same number of callers, against a gRPC server that
 * answers at once, divided by the RPCs one operation makes. A figure near its ceiling is
 * limited by the clients, not by the masters.
 *
 * The bench's clients opt in to inline small files (DfsClientOptions.inlineSmallFiles; its files
 * are never appended), so files of at most MAX_INLINE_BYTES are kept inline: an empty or
 * 1 KiB file is one CreateFile (one log entry), and reading one is one GetFile.
 *
 * Phases are rows of PHASES (name, RPCs per op, the op); adding one (say follower reads)
 * is one row. Targets (issue 18): >= 5,000 creates/s, >= 20,000 stats/s. Each row also gives
 * the CPU milliseconds per operation of the busiest master (the leader, for writes) and of
 * all three: on a shared machine they move far less than the rates do.
 * Knobs: BENCH_META_FILES (10000), BENCH_META_CLIENTS (32, over all processes),
 * BENCH_META_PROCS (2), BENCH_META_SECONDS (5), BENCH_META_ONLY (run only the phases whose
 * names start with one of these comma-separated prefixes, e.g. "creates of empty").
 * Profiling: with BENCH_PROFILE_DIR=D each phase's window on the monotonic clock (µs, the
 * clock of V8's CPU profiles) is written to D/windows.json, so profiles of the nodes
 * (DFS_NODE_ARGS="--cpu-prof --cpu-prof-dir=D") can be cut to one phase with
 * lib/profile-summary.js.
 */

const FILES = Number(process.env.BENCH_META_FILES ?? 10_000);
const CLIENTS = Number(process.env.BENCH_META_CLIENTS ?? 32);
const PROCS = Math.max(1, Number(process.env.BENCH_META_PROCS ?? 2));
const SECONDS = Number(process.env.BENCH_META_SECONDS ?? 5);
const ONLY = (process.env.BENCH_META_ONLY ?? '').split(',').map((p) => p.trim()).filter(Boolean);
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

const pad = (i: number): string => String(i).padStart(6, '0');
const KIB = Buffer.alloc(1024, 7);

interface Phase {
  name: string;
  /** Master RPCs one operation makes: the ceiling is calls/s divided by this. */
  rpcs: number;
  /** A fixed count of operations (split over the workers), or undefined: run for SECONDS. */
  count?: number;
  op: (c: DfsClient, i: number) => Promise<unknown>;
  note?: string;
  /** Run on clients with follower reads (read-your-writes, spread over every master). */
  followerReads?: boolean;
}

const PHASES: Phase[] = [
  { name: 'creates of empty files', rpcs: 1, count: FILES, op: (c, i) => c.put(Readable.from([]), `/ls10k/f${pad(i)}`), note: 'one inline CreateFile; target >= 5,000/s' },
  { name: 'creates of 1 KiB files', rpcs: 1, count: FILES, op: (c, i) => c.put(KIB, `/small/f${pad(i)}`), note: 'one inline CreateFile' },
  { name: 'reads of 1 KiB files', rpcs: 1, op: (c, i) => c.readFile(`/small/f${pad((i * 7919) % FILES)}`), note: 'one GetFile' },
  { name: 'mkdirs', rpcs: 1, count: FILES, op: (c, i) => c.mkdir(`/mk/d${pad(i)}`) },
  { name: 'stats (linearizable)', rpcs: 1, op: (c, i) => c.stat(`/ls10k/f${pad((i * 7919) % FILES)}`), note: 'target >= 20,000/s' },
  { name: 'stats (--stale-ok)', rpcs: 1, op: (c, i) => c.stat(`/ls10k/f${pad((i * 7919) % FILES)}`, { staleOk: true }) },
  { name: 'stats (follower reads)', rpcs: 1, followerReads: true, op: (c, i) => c.stat(`/ls10k/f${pad((i * 7919) % FILES)}`), note: 'spread over all 3 masters' },
  { name: 'renames', rpcs: 1, count: FILES, op: (c, i) => c.mv(`/mk/d${pad(i)}`, `/mv/d${pad(i)}`) },
  { name: 'deletes (to trash)', rpcs: 1, count: FILES, op: (c, i) => c.rm(`/mv/d${pad(i)}`) },
  { name: 'ls of 100-entry pages', rpcs: 1, op: (c, i) => c.masters.call((m) => m.list, { path: '/ls10k', startAfter: `f${pad((i * 7919) % FILES)}`, limit: 100, staleOk: false }) },
];

// ---- worker process --------------------------------------------------------------------

interface WorkerInit { masters: string[]; tls?: string; clients: number; worker: number; workers: number }
type Job = { phase: number; startAt: number } | { ceiling: string; startAt: number } | { quit: true };
interface Result { ops: number; seconds: number; errors: number; firstError?: string }

async function runWorker(init: WorkerInit): Promise<void> {
  const security = init.tls ? tlsFrom(init.tls) : INSECURE;
  const clients = Array.from({ length: init.clients }, () => new DfsClient({ masters: init.masters, security, callTimeoutMs: 10_000, inlineSmallFiles: true }));
  const followers = Array.from({ length: init.clients }, () => new DfsClient({ masters: init.masters, security, callTimeoutMs: 10_000, followerReads: true }));
  const reply = (r: Result): void => void process.send!(r);
  process.on('message', (job: Job) => {
    if ('quit' in job) {
      for (const c of [...clients, ...followers]) c.close();
      process.exit(0);
    }
    const wait = Math.max(0, job.startAt - Date.now());
    setTimeout(() => {
      if ('ceiling' in job) void noopLoad(job.ceiling, init.clients).then(reply);
      else {
        const phase = PHASES[job.phase]!;
        void runPhase(phase, phase.followerReads ? followers : clients, init).then(reply);
      }
    }, wait);
  });
  process.send!({ ready: true });
}

/** Closed loop: every caller does one op at a time; a counted phase deals indexes round-robin over workers. */
async function runPhase(phase: Phase, clients: DfsClient[], init: WorkerInit): Promise<Result> {
  let next = init.worker;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const stopAt = Date.now() + SECONDS * 1000;
  const started = process.hrtime.bigint();
  await Promise.all(
    clients.map(async (c, w) => {
      for (let k = w; ; k += clients.length) {
        let i: number;
        if (phase.count !== undefined) {
          i = next;
          if (i >= phase.count) return;
          next += init.workers;
        } else {
          if (Date.now() >= stopAt) return;
          i = k * init.workers + init.worker;
        }
        try {
          await phase.op(c, i);
          ops++;
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  return { ops, errors, firstError, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** The ceiling: `callers` closed-loop callers against a server that answers every call at once. */
async function noopLoad(address: string, callers: number): Promise<Result> {
  const client = noopClient(address);
  let ops = 0;
  const stopAt = Date.now() + SECONDS * 1000;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < stopAt) {
        await client.call();
        ops++;
      }
    }),
  );
  client.close();
  return { ops, errors: 0, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

// ---- the parent ------------------------------------------------------------------------

class Workers {
  private constructor(private readonly procs: ChildProcess[]) {}

  static async start(masters: string[], tls: string | undefined): Promise<Workers> {
    const procs = Array.from({ length: PROCS }, (_, worker) => {
      const clients = Math.floor(CLIENTS / PROCS) + (worker < CLIENTS % PROCS ? 1 : 0);
      const init: WorkerInit = { masters, tls, clients, worker, workers: PROCS };
      return fork(__filename, ['worker', JSON.stringify(init)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    });
    await Promise.all(procs.map((p) => new Promise((resolve) => p.once('message', resolve))));
    return new Workers(procs);
  }

  /** Starts the job in every worker at the same moment; ops/s over the slowest worker's time. */
  async run(job: Job): Promise<{ perSec: number; result: Result }> {
    const startAt = Date.now() + 200;
    const results = await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<Result>((resolve) => {
            p.once('message', (r: Result) => resolve(r));
            p.send({ ...job, startAt });
          }),
      ),
    );
    const total: Result = { ops: 0, errors: 0, seconds: 0 };
    for (const r of results) {
      total.ops += r.ops;
      total.errors += r.errors;
      total.seconds = Math.max(total.seconds, r.seconds);
      total.firstError ??= r.firstError;
    }
    return { perSec: total.ops / total.seconds, result: total };
  }

  stop(): void {
    for (const p of this.procs) p.send({ quit: true });
  }
}

function line(name: string, value: string, note = ''): void {
  process.stdout.write(`${name.padEnd(30)} ${value.padStart(10)}  ${note}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-bench-meta-'));
  const cluster = await TestCluster.start({ dir, masters: 3, chunkservers: 1, extraArgs: ['--log-level', 'warn'] });
  const admin = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security, callTimeoutMs: 10_000 });
  // Workers rebuild the same client credentials from the cluster's own description.
  const tls = (JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { tls?: { client: string } }).tls?.client;
  let workers: Workers | undefined;
  // The ceiling server runs in this (otherwise idle) process, apart from the workers.
  const noop = await startNoopServer();
  try {
    process.stdout.write(`bench-meta: 3 masters, ${CLIENTS} clients in ${PROCS} processes, ${FILES} files, ${SECONDS} s per timed phase; load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} cores)\n`);
    for (const d of ['/ls10k', '/mk', '/mv', '/small']) await admin.mkdir(d, { parents: true });
    workers = await Workers.start(cluster.masterAddresses, tls);
    // Twice: the first round also pays for connection set-up and JIT warm-up.
    await workers.run({ ceiling: noop.address, startAt: 0 });
    const ceiling = (await workers.run({ ceiling: noop.address, startAt: 0 })).perSec;
    line('client-process ceiling', `${Math.round(ceiling)}/s`, `(no-op gRPC calls, plaintext, from the same ${PROCS} processes, ${CLIENTS} callers)`);
    const masterPids = cluster.info.masters.map((m) => m.pid);
    const windows: Record<string, { fromUs: number; toUs: number }> = {};
    for (const [i, phase] of PHASES.entries()) {
      if (ONLY.length > 0 && !ONLY.some((p) => phase.name.startsWith(p))) continue;
      const cpuBefore = masterPids.map(cpuSecondsOf);
      const fromUs = monotonicUs();
      const { perSec, result } = await workers.run({ phase: i, startAt: 0 });
      windows[phase.name] = { fromUs, toUs: monotonicUs() };
      if (PROFILE_DIR) writeFileSync(join(PROFILE_DIR, 'windows.json'), JSON.stringify({ masterPids, windows }, null, 2));
      const cpu = masterPids.map((pid, k) => cpuSecondsOf(pid) - cpuBefore[k]!);
      const perOp = (s: number): string => (result.ops > 0 ? ((s * 1000) / result.ops).toFixed(3) : '-');
      const errors = result.errors > 0 ? `; ${result.errors} errors, first: ${result.firstError}` : '';
      const note = phase.note ? `; ${phase.note}` : '';
      line(phase.name, `${Math.round(perSec)}/s`, `(ceiling ${Math.round(ceiling / phase.rpcs)}/s = ${phase.rpcs} RPC/op; master CPU ms/op: busiest ${perOp(Math.max(...cpu))}, all ${perOp(cpu.reduce((a, b) => a + b, 0))}${note}${errors})`);
    }
    const times: number[] = [];
    for (let r = 0; r < (ONLY.length > 0 ? 0 : 5); r++) {
      const t0 = process.hrtime.bigint();
      let n = 0;
      for await (const _ of admin.list('/ls10k', { pageSize: 1000 })) n++;
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (n !== FILES) throw new Error(`ls returned ${n} entries, expected ${FILES}`);
    }
    times.sort((a, b) => a - b);
    if (times.length > 0) line(`ls of a ${FILES}-entry dir`, `${times[2]!.toFixed(0)} ms`, `(one client, pages of 1,000, median of 5; ${Math.round(FILES / (times[2]! / 1000))} entries/s)`);
    const after = (await workers.run({ ceiling: noop.address, startAt: 0 })).perSec;
    line('client-process ceiling again', `${Math.round(after)}/s`, '(the machine\'s load changed in between if this differs much)');
    process.stdout.write(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  } finally {
    workers?.stop();
    noop.stop();
    admin.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'worker') {
  runWorker(JSON.parse(process.argv[3]!) as WorkerInit).catch((err: unknown) => {
    process.stderr.write(`bench-meta worker failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`bench-meta failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
