import { closeSync, mkdirSync, mkdtempSync, openSync, fdatasyncSync, rmSync, writeSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DfsClient } from '@dfs/client';
import { TestCluster } from '@dfs/testkit';
import { raftBreakdown, type ClientCall } from './lib/hops.js';
import { noopClient, startNoopServer } from './lib/noop-grpc.js';

/*
 * make trace-small: where the time of one small put and one stat goes, hop by hop, on a
 * real cluster (3 masters, 3 chunkservers, separate processes, loopback). One client,
 * one operation at a time, BENCH_TRACE_N (50) of each; medians in ms.
 *
 *   floors     one fdatasync of 1 KiB on this disk; one no-op gRPC round trip
 *   stat       --stale-ok (round trip + SQLite lookup), linearizable (+ lease or ReadIndex)
 *   mkdir      one Raft command: propose, leader fsync || follower append + fsync, commit, apply
 *   put 1 KiB  inline (the default): one CreateFile carrying the bytes (one Raft command);
 *              in chunks (inlineSmallFiles: false): CreateFile (+ first chunk: one Raft command),
 *              data through the 3-replica pipeline (the gap between the two master calls),
 *              CompleteFile (one Raft command)
 *   append     64 bytes to a 1 KiB inline file: the conditional rewrite (OpenAppend refused,
 *              GetFile, CreateFile{replaces_inode})
 *   get 1 KiB  inline: one GetFile; in chunks: GetFile + one chunk read
 *   hops       one Raft command (a mkdir) taken apart, BENCH_TRACE_RAFT_N (200) of them: each
 *              process marks its hops (@dfs/telemetry hop-trace.ts, DFS_HOP_TRACE), and each
 *              row is the median gap from the step before (lib/hops.ts)
 * The hops of a put come from the client's own master calls, timed as they happen.
 */
const N = Number(process.env.BENCH_TRACE_N ?? 50);
const RAFT_N = Number(process.env.BENCH_TRACE_RAFT_N ?? 200);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
}

async function timeEach(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    out.push(performance.now() - t);
  }
  return out;
}

function row(name: string, ms: number, note = ''): void {
  process.stdout.write(`${name.padEnd(40)} ${ms.toFixed(2).padStart(8)} ms  ${note}\n`);
}

type Call = DfsClient['masters']['call'];

/** Records (method, start, end) of every master call the client makes. */
function recordHops(client: DfsClient): Array<{ method: string; start: number; end: number }> {
  const hops: Array<{ method: string; start: number; end: number }> = [];
  const pool = client.masters as { call: Call };
  const original = pool.call.bind(pool) as Call;
  pool.call = (async (pick, request, opts) => {
    let method = '?';
    (pick as (c: unknown) => unknown)(new Proxy({}, { get: (_t, p) => ((method = String(p)), () => undefined) }));
    const start = performance.now();
    try {
      return await original(pick, request, opts);
    } finally {
      hops.push({ method, start, end: performance.now() });
    }
  }) as Call;
  return hops;
}

/** RAFT_N mkdirs one at a time, each taken apart hop by hop across the processes. */
async function raftHops(client: DfsClient, hopDir: string): Promise<void> {
  const calls: ClientCall[] = [];
  for (let i = 0; i < RAFT_N; i++) {
    const send = process.hrtime.bigint();
    await client.mkdir(`/trace/d/h${i}`);
    calls.push({ send, recv: process.hrtime.bigint() });
  }
  // The nodes write their hops every 50 ms: wait until the last command's are there.
  let b = raftBreakdown(hopDir, calls);
  for (const deadline = Date.now() + 3000; b.matched < calls.length && Date.now() < deadline; b = raftBreakdown(hopDir, calls)) {
    await new Promise((r) => setTimeout(r, 100));
  }
  process.stdout.write(`one Raft command (mkdir) hop by hop: ${b.matched} of ${calls.length} matched; medians, ms (gap from the step before / since the client sent)\n`);
  for (const r of b.rows) process.stdout.write(`  ${r.step.padEnd(40)} ${r.gapMs.toFixed(3).padStart(8)} ${r.sinceSendMs.toFixed(3).padStart(8)}\n`);
  process.stdout.write(`  (leader's own fsync ${b.leaderFsyncMs.toFixed(3)} ms; the follower had the entry before it ended in ${b.overlapped} of ${b.matched})\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-trace-'));
  // Every node the launcher starts inherits this and writes its hops there.
  const hopDir = join(dir, 'hops');
  mkdirSync(hopDir);
  process.env.DFS_HOP_TRACE = hopDir;
  const cluster = await TestCluster.start({ dir, masters: 3, chunkservers: 3, extraArgs: ['--log-level', 'warn'] });
  const client = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security, callTimeoutMs: 10_000 });
  const chunked = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security, callTimeoutMs: 10_000, inlineSmallFiles: false });
  const noop = await startNoopServer();
  const nc = noopClient(noop.address);
  try {
    process.stdout.write(`trace: 3 masters, 3 chunkservers, one client, ${N} of each, medians; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} cores)\n`);
    const file = join(dir, 'fsync.bin');
    const fd = openSync(file, 'w');
    const kib = Buffer.alloc(1024, 1);
    const fsyncs = await timeEach(N, async (i) => {
      writeSync(fd, kib, 0, kib.length, i * 1024);
      fdatasyncSync(fd);
    });
    closeSync(fd);
    row('floor: write 1 KiB + fdatasync', median(fsyncs));
    await timeEach(20, () => nc.call());
    row('floor: no-op gRPC round trip', median(await timeEach(N, () => nc.call())));

    await client.mkdir('/trace/d', { parents: true });
    for (let i = 0; i < 10; i++) await client.put(kib, `/trace/warm${i}`);
    row('stat --stale-ok', median(await timeEach(N, (i) => client.stat(`/trace/warm${i % 10}`, { staleOk: true }))));
    row('stat (linearizable)', median(await timeEach(N, (i) => client.stat(`/trace/warm${i % 10}`))));
    row('mkdir (one Raft command)', median(await timeEach(N, (i) => client.mkdir(`/trace/d/m${i}`))));
    await raftHops(client, hopDir);
    if (process.env.BENCH_TRACE_ONLY === 'raft') return;

    row('put 1 KiB inline', median(await timeEach(N, (i) => client.put(kib, `/trace/i${i}`))), '(one CreateFile)');
    const tail = Buffer.alloc(64, 2);
    row('append 64 B to an inline file', median(await timeEach(N, (i) => client.append(tail, `/trace/i${i}`))), '(OpenAppend refused + GetFile + conditional CreateFile)');
    row('get 1 KiB inline', median(await timeEach(N, (i) => client.readFile(`/trace/warm${i % 10}`))), '(one GetFile)');

    const hops = recordHops(chunked);
    const create: number[] = [];
    const data: number[] = [];
    const complete: number[] = [];
    const puts = await timeEach(N, async (i) => {
      hops.length = 0;
      await chunked.put(kib, `/trace/f${i}`);
      const c = hops.find((h) => h.method === 'createFile');
      const d = hops.find((h) => h.method === 'completeFile');
      if (c && d) {
        create.push(c.end - c.start);
        data.push(d.start - c.end);
        complete.push(d.end - d.start);
      }
    });
    row('put 1 KiB in chunks, whole', median(puts), `(${hops.map((h) => h.method).join(' + ')} + data)`);
    row('  CreateFile + first chunk (Raft)', median(create));
    row('  data: 3-replica pipeline', median(data));
    row('  CompleteFile (Raft)', median(complete));
    row('get 1 KiB in chunks (GetFile + chunk read)', median(await timeEach(N, (i) => chunked.readFile(`/trace/f${i}`))));
  } finally {
    nc.close();
    noop.stop();
    client.close();
    chunked.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`trace failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
