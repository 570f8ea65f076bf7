'use strict';
// make bench-raft: a 3-node cluster of separate processes over gRPC on loopback, SQLite
// durability on (raft log: WAL, one fdatasync per Ready), 64 concurrent proposers of 128-byte
// commands on the leader. Prints committed proposals/s, p50/p99 latency, and the CPU
// milliseconds per proposal of the leader and of each follower (steadier than the rate on a
// shared machine).
// Options: --concurrency N --size B --seconds S --sm sqlite|memory --etcd (also measure etcd 3.4).
const { fork } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('@dfs/proto');
const { cpuSecondsOf } = require('../dist/lib/cpu.js');

function opt(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const concurrency = Number(opt('concurrency', 64));
const size = Number(opt('size', 128));
const seconds = Number(opt('seconds', 10));
const sm = opt('sm', 'sqlite');

async function benchOurs() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-raft-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const peers = ports.map((p, i) => ({ id: `m${i + 1}`, address: `127.0.0.1:${p}` }));
  const children = peers.map((p) => {
    fs.mkdirSync(path.join(dir, p.id), { recursive: true });
    return fork(path.join(__dirname, 'node.js'), [JSON.stringify({ id: p.id, peers, dir: path.join(dir, p.id), sm })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(' ') : [] });
  });
  const kill = () => children.forEach((c) => c.kill('SIGKILL'));
  process.on('exit', kill);
  try {
    await Promise.all(children.map((c) => new Promise((res) => c.once('message', res))));
    let leader;
    let leaderAddress;
    for (let i = 0; i < 100 && !leader; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const st = await Promise.all(children.map((c) => new Promise((res) => { c.once('message', res); c.send({ cmd: 'status' }); })));
      const li = st.findIndex((s) => s.leader);
      if (li >= 0) {
        leader = children[li];
        leaderAddress = st[li].address;
      }
    }
    if (!leader) throw new Error('no leader elected');
    const followers = children.filter((c) => c !== leader);
    let followerCpu0 = [];
    const inProcess = await new Promise((res) => {
      const onMessage = (m) => {
        if (m.cmd === 'window-start') {
          followerCpu0 = followers.map((c) => cpuSecondsOf(c.pid));
          return;
        }
        leader.off('message', onMessage);
        res(m);
      };
      leader.on('message', onMessage);
      leader.send({ cmd: 'bench', concurrency, size, durationMs: seconds * 1000, warmupMs: 2000 });
    });
    inProcess.followerCpuMsPerOp = followers.map((c, i) => ((cpuSecondsOf(c.pid) - followerCpu0[i]) * 1000) / inProcess.count);
    const { load } = require('./grpc-load.js');
    const payload = Buffer.alloc(size, 7);
    const external = await load({ address: leaderAddress, method: '/bench.Bench/Propose', request: () => payload, concurrency, seconds });
    const result = { inProcess, external };
    await Promise.all(children.map((c) => new Promise((res) => { c.once('exit', res); c.send({ cmd: 'stop' }); setTimeout(() => c.kill('SIGKILL'), 3000); })));
    return result;
  } finally {
    kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  console.log(`dfs raft: 3 processes, gRPC on loopback, SQLite (WAL, fdatasync per Ready) raft log, state machine=${sm}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`          ${concurrency} concurrent proposers on the leader, ${size}-byte commands, ${seconds} s (after 2 s warm-up)`);
  const { inProcess: r, external: x } = await benchOurs();
  console.log(`dfs raft (proposers in the leader process): ${Math.round(r.perSec)} committed proposals/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (${r.count} in ${r.elapsed.toFixed(1)} s, ${r.errors} errors)`);
  console.log(`  CPU ms per proposal: leader ${r.leaderCpuMsPerOp.toFixed(3)}, followers ${r.followerCpuMsPerOp.map((x) => x.toFixed(3)).join(' and ')} (the leader's includes its 64 proposers)`);
  console.log(`dfs raft (gRPC client in another process):  ${Math.round(x.perSec)} committed proposals/s, p50 ${x.p50.toFixed(2)} ms, p99 ${x.p99.toFixed(2)} ms (${x.count} in ${x.elapsed.toFixed(1)} s, ${x.errors} errors)`);
  {
    // The same client against a server that does nothing: what the client side alone allows.
    const child = fork(path.join(__dirname, 'noop-server.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const { port } = await new Promise((res) => child.once('message', res));
    const { load } = require('./grpc-load.js');
    const c = await load({ address: `127.0.0.1:${port}`, method: '/bench.Bench/Noop', request: () => Buffer.alloc(size, 7), concurrency, seconds: Math.min(seconds, 5) });
    child.kill('SIGKILL');
    console.log(`ceiling of that gRPC client (no-op server):  ${Math.round(c.perSec)} calls/s, p50 ${c.p50.toFixed(2)} ms, p99 ${c.p99.toFixed(2)} ms`);
  }
  if (process.argv.includes('--etcd')) {
    const { benchEtcd } = require('./etcd.js');
    const e = await benchEtcd({ concurrency, size, seconds });
    if (e) console.log(`etcd ${e.version}: ${Math.round(e.perSec)} committed puts/s, p50 ${e.p50.toFixed(2)} ms, p99 ${e.p99.toFixed(2)} ms (${e.count} in ${e.elapsed.toFixed(1)} s, ${e.errors} errors; client: ${e.client})`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
