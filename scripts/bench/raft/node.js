'use strict';
// One Raft node of the benchmark cluster, as its own process (forked by run.js, IPC).
// The state machine is a SQLite table (WAL, synchronous=NORMAL: the Raft log, fsynced
// with synchronous=FULL, is what makes an entry durable) or, with --sm memory, a counter.
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const Database = require('better-sqlite3');
const { serverOptions } = require('@dfs/proto');
const { INSECURE, serverCredentials } = require('@dfs/security');
const { RaftNode } = require('../../../packages/raft/dist/src/index.js');

const args = JSON.parse(process.argv[2]);

class SqliteSm {
  constructor(file) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec('CREATE TABLE IF NOT EXISTS cmds (idx INTEGER PRIMARY KEY, data BLOB); CREATE TABLE IF NOT EXISTS applied (id INTEGER PRIMARY KEY, idx INTEGER)');
    this.ins = this.db.prepare('INSERT OR REPLACE INTO cmds (idx, data) VALUES (?, ?)');
    this.app = this.db.prepare('INSERT INTO applied (id, idx) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET idx = excluded.idx');
    this.tx = this.db.transaction((index, data) => {
      this.ins.run(index, data);
      this.app.run(index);
    });
    this.batch = this.db.transaction((entries) => {
      for (const e of entries) this.ins.run(e.index, Buffer.from(e.data));
      this.app.run(entries[entries.length - 1].index);
    });
    this.idx = this.db.prepare('SELECT idx FROM applied WHERE id = 1').get()?.idx ?? 0;
  }
  apply(index, data) {
    this.tx(index, Buffer.from(data));
    this.idx = index;
    return index;
  }
  applyBatch(entries) {
    this.batch(entries);
    this.idx = entries[entries.length - 1].index;
    return entries.map((e) => e.index);
  }
  appliedIndex() {
    return this.idx;
  }
  async snapshot(p) {
    const index = this.idx;
    this.db.prepare('VACUUM INTO ?').run(p);
    return { index };
  }
  async restore() {
    throw new Error('not used in the benchmark');
  }
}

class MemorySm {
  constructor() {
    this.idx = 0;
  }
  apply(index) {
    this.idx = index;
    return index;
  }
  appliedIndex() {
    return this.idx;
  }
  async snapshot(p) {
    require('node:fs').writeFileSync(p, String(this.idx));
    return { index: this.idx };
  }
  async restore(p, index) {
    this.idx = index;
  }
}

async function main() {
  const server = new grpc.Server(serverOptions());
  const sm = args.sm === 'memory' ? new MemorySm() : new SqliteSm(path.join(args.dir, 'sm.db'));
  const self = args.peers.find((p) => p.id === args.id);
  const node = RaftNode.create({ id: args.id, address: self.address, peers: args.peers, dir: path.join(args.dir, 'raft'), stateMachine: sm, server, security: INSECURE, snapshotEvery: 1_000_000 });
  // A bench-only unary service: raw command bytes in, empty reply once committed and
  // applied on this node, so an external client pays what an etcd client pays.
  const id = (b) => b;
  server.addService(
    { propose: { path: '/bench.Bench/Propose', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
    { propose: (call, cb) => node.propose(call.request).then(() => cb(null, Buffer.alloc(0)), (e) => cb({ code: grpc.status.FAILED_PRECONDITION, details: String(e) })) },
  );
  await new Promise((res, rej) => server.bindAsync(self.address, serverCredentials(INSECURE), (e) => (e ? rej(e) : res())));
  await node.start();
  process.on('message', async (msg) => {
    if (msg.cmd === 'status') process.send({ cmd: 'status', leader: node.isLeader(), address: self.address, status: node.status() });
    if (msg.cmd === 'bench') process.send({ cmd: 'result', ...(await bench(node, msg)) });
    if (msg.cmd === 'stop') {
      await node.stop();
      server.forceShutdown();
      process.exit(0);
    }
  });
  process.send({ cmd: 'ready' });
}

async function bench(node, { concurrency, size, durationMs, warmupMs }) {
  const payload = Buffer.alloc(size, 7);
  const lat = [];
  let count = 0;
  let errors = 0;
  let measuring = false;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const t = process.hrtime.bigint();
      try {
        await node.propose(payload);
        if (measuring) {
          count++;
          lat.push(Number(process.hrtime.bigint() - t) / 1e6);
        }
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  process.send({ cmd: 'window-start' }); // the runner samples the followers' CPU now
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, durationMs));
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const elapsed = (Date.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
  return { count, elapsed, perSec: count / elapsed, p50: q(0.5), p99: q(0.99), errors, leaderCpuMsPerOp: count ? (cpu.user + cpu.system) / 1000 / count : NaN };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
