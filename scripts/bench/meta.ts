import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DfsClient } from '@dfs/client';
import { startBenchCluster } from './lib/cluster.js';

/*
 * make bench-meta: the metadata path alone, on a real 3-master Raft group on loopback.
 *   creates/s  empty files (CreateFile + CompleteFile: two Raft commands each) by 32 clients
 *   mkdirs/s   single Raft commands by 32 clients
 *   stats/s    linearizable (ReadIndex on the leader) and --stale-ok, 32 clients
 *   ls         a 10,000-entry directory, paged (1,000 per page)
 * Targets (issue 4): >= 5,000 creates/s, >= 20,000 stats/s.
 * Knobs: BENCH_META_FILES (default 10000), BENCH_META_CLIENTS (32), BENCH_META_SECONDS (5).
 */

const FILES = Number(process.env.BENCH_META_FILES ?? 10_000);
const CLIENTS = Number(process.env.BENCH_META_CLIENTS ?? 32);
const SECONDS = Number(process.env.BENCH_META_SECONDS ?? 5);

async function runWorkers(n: number, total: number, task: (client: DfsClient, i: number) => Promise<void>, clients: DfsClient[]): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      for (let i = next++; i < total; i = next++) await task(clients[w % clients.length]!, i);
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function forSeconds(n: number, seconds: number, task: (client: DfsClient, k: number) => Promise<void>, clients: DfsClient[]): Promise<number> {
  const stopAt = Date.now() + seconds * 1000;
  let done = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: n }, async (_, w) => {
      while (Date.now() < stopAt) {
        await task(clients[w % clients.length]!, done);
        done++;
      }
    }),
  );
  return done / (Number(process.hrtime.bigint() - started) / 1e9);
}

function line(name: string, value: string, note = ''): void {
  process.stdout.write(`${name.padEnd(44)} ${value.padStart(12)}  ${note}\n`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-bench-meta-'));
  const cluster = await startBenchCluster(dir, ['--masters', '3', '--chunkservers', '1', '--log-level', 'warn']);
  const clients = Array.from({ length: CLIENTS }, () => new DfsClient({ masters: cluster.masters, security: cluster.security, callTimeoutMs: 10_000 }));
  try {
    process.stdout.write(`bench-meta: 3 masters, ${CLIENTS} clients, ${FILES} files; load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} cores)\n`);
    await clients[0]!.mkdir('/ls10k', { parents: true });
    await clients[0]!.mkdir('/mk', { parents: true });

    const createSecs = await runWorkers(CLIENTS, FILES, (c, i) => c.put(Readable.from([]), `/ls10k/f${String(i).padStart(6, '0')}`).then(() => undefined), clients);
    line('creates of empty files', `${Math.round(FILES / createSecs)}/s`, `(${FILES} in ${createSecs.toFixed(2)} s; target >= 5,000/s)`);

    // The same two commands without the client's writer machinery (lease renewal timer, streams).
    const raw = Math.min(FILES, 5_000);
    await clients[0]!.mkdir('/raw', { parents: true });
    const rawSecs = await runWorkers(CLIENTS, raw, async (c, i) => {
      const res = await c.masters.call((m) => m.createFile, { path: `/raw/f${i}`, overwrite: false, replication: 0, mode: 0, clientId: c.clientId, chunkSize: 0, opId: `raw-${i}`, allocateFirstChunk: false });
      await c.masters.call((m) => m.completeFile, { path: `/raw/f${i}`, inode: res.file!.inode, clientId: c.clientId, chunks: [], opId: `rawc-${i}` });
    }, clients);
    line('creates, raw CreateFile+CompleteFile RPCs', `${Math.round(raw / rawSecs)}/s`, `(${raw} in ${rawSecs.toFixed(2)} s)`);

    const mkdirs = Math.min(FILES, 10_000);
    const mkdirSecs = await runWorkers(CLIENTS, mkdirs, (c, i) => c.mkdir(`/mk/d${i}`).then(() => undefined), clients);
    line('mkdirs', `${Math.round(mkdirs / mkdirSecs)}/s`, `(${mkdirs} in ${mkdirSecs.toFixed(2)} s)`);

    const path = (k: number): string => `/ls10k/f${String((k * 7919) % FILES).padStart(6, '0')}`;
    const stats = await forSeconds(CLIENTS, SECONDS, (c, k) => c.stat(path(k)).then(() => undefined), clients);
    line('stats (linearizable, ReadIndex)', `${Math.round(stats)}/s`, '(target >= 20,000/s)');
    const stale = await forSeconds(CLIENTS, SECONDS, (c, k) => c.stat(path(k), { staleOk: true }).then(() => undefined), clients);
    line('stats (--stale-ok)', `${Math.round(stale)}/s`);

    const entries = Math.min(FILES, 10_000);
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = process.hrtime.bigint();
      let n = 0;
      for await (const _ of clients[0]!.list('/ls10k', { pageSize: 1000 })) n++;
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      if (n !== FILES) throw new Error(`ls returned ${n} entries, expected ${FILES}`);
    }
    times.sort((a, b) => a - b);
    line(`ls of a ${FILES}-entry directory`, `${times[2]!.toFixed(0)} ms`, `(median of 5; ${Math.round(entries / (times[2]! / 1000))} entries/s)`);
    process.stdout.write(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  } finally {
    for (const c of clients) c.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-meta failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
