import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DfsClient } from '@dfs/client';
import { TestCluster } from '@dfs/testkit';

/*
 * make bench-failover: the master leader SIGKILLed under a steady mix of gets and puts.
 *
 *   1. start 3 masters and 4 chunkservers through `dfs cluster up`; put the files the getters read;
 *   2. BENCH_FAILOVER_GETTERS + BENCH_FAILOVER_PUTTERS clients (default 4 + 4), each its own
 *      DfsClient, loop get / put of small files (one chunk) for BENCH_FAILOVER_SECONDS (default 6)
 *      before the kill and as long after it. Getters use follower reads (their lookups go to any
 *      master, so an election does not stop them); BENCH_FAILOVER_FOLLOWER_READS=0 sends them
 *      to the leader like the putters;
 *   3. SIGKILL the leader; keep going.
 *
 * Reported: kill → a new leader answers (Raft election, the floor of everything else), kill →
 * first successful get and put that started after the kill, the longest stall any client saw
 * (longest time between two successes of one client, over the whole run), and beside them the
 * same clients' steady-state latency before the kill (p50 / p99 / max) — the ceiling measured in
 * the same run. Goal: first get and first put under 2 s.
 */

const GETTERS = Number(process.env.BENCH_FAILOVER_GETTERS ?? 4);
const PUTTERS = Number(process.env.BENCH_FAILOVER_PUTTERS ?? 4);
const SECONDS = Number(process.env.BENCH_FAILOVER_SECONDS ?? 6);
const FILE = 64 * 1024;
const FILES = 16;
const FOLLOWER_READS = process.env.BENCH_FAILOVER_FOLLOWER_READS !== '0';

interface Op {
  kind: 'get' | 'put';
  worker: number;
  start: number;
  end: number;
  ok: boolean;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'dfs-bench-failover-'));
  const cluster = await TestCluster.start({ dir: join(work, 'cluster'), masters: 3, chunkservers: 4, chunkSize: 1024 * 1024 });
  const admin = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security, callTimeoutMs: 1000, retryWindowMs: 30_000 });
  const clients: DfsClient[] = [];
  const ops: Op[] = [];
  let stopAt = Infinity;
  try {
    const body = randomBytes(FILE);
    for (let i = 0; i < FILES; i++) await admin.put(body, `/failover/r${i}`);
    const lead = (await admin.clusterStatus()).leaderId;

    const worker = async (kind: 'get' | 'put', w: number): Promise<void> => {
      // Each client as a user would have it: the defaults, except a short per-attempt deadline.
      const client = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security, callTimeoutMs: 1000, retryWindowMs: 60_000, followerReads: kind === 'get' && FOLLOWER_READS });
      clients.push(client);
      for (let i = 0; Date.now() < stopAt; i++) {
        const start = Date.now();
        let ok = true;
        try {
          if (kind === 'get') {
            const got = await client.readFile(`/failover/r${(w + i) % FILES}`);
            if (got.length !== FILE) throw new Error(`short read: ${got.length}`);
          } else {
            await client.put(body, `/failover/w${w}/f${i}`);
          }
        } catch (err) {
          ok = false;
          process.stderr.write(`  ${kind} ${w}: ${(err as Error).message}\n`);
        }
        ops.push({ kind, worker: w, start, end: Date.now(), ok });
      }
    };
    const started = Date.now();
    stopAt = started + 2 * SECONDS * 1000 + 60_000; // moved up once the kill time is known
    const running = [
      ...Array.from({ length: GETTERS }, (_, w) => worker('get', w)),
      ...Array.from({ length: PUTTERS }, (_, w) => worker('put', GETTERS + w)),
    ];
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const load = os.loadavg()[0]!;
    const killedAt = Date.now();
    process.kill(cluster.pids.get(lead)!, 'SIGKILL');
    stopAt = killedAt + SECONDS * 1000;
    // The floor: when a survivor answers as the new leader (polled every 20 ms).
    const survivors = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security, callTimeoutMs: 300, retryWindowMs: 300 });
    clients.push(survivors);
    let electedAt = 0;
    while (!electedAt && Date.now() < killedAt + 30_000) {
      const st = await survivors.clusterStatus().catch(() => undefined);
      if (st?.leaderId && st.leaderId !== lead) electedAt = Date.now();
      else await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(running);

    const before = ops.filter((o) => o.ok && o.end < killedAt);
    const firstAfter = (kind: 'get' | 'put'): number => {
      const done = ops.filter((o) => o.kind === kind && o.ok && o.start >= killedAt).map((o) => o.end);
      return done.length ? Math.min(...done) - killedAt : NaN;
    };
    let stall = 0;
    let stallWho = '';
    for (let w = 0; w < GETTERS + PUTTERS; w++) {
      const ends = [started, ...ops.filter((o) => o.worker === w && o.ok).map((o) => o.end).sort((a, b) => a - b)];
      for (let i = 1; i < ends.length; i++) {
        if (ends[i]! - ends[i - 1]! > stall) {
          stall = ends[i]! - ends[i - 1]!;
          stallWho = `${w < GETTERS ? 'getter' : 'putter'} ${w}`;
        }
      }
    }
    const lat = (kind: 'get' | 'put'): string => {
      const l = before.filter((o) => o.kind === kind).map((o) => o.end - o.start).sort((a, b) => a - b);
      return `p50 ${pct(l, 50)} ms, p99 ${pct(l, 99)} ms, max ${l[l.length - 1] ?? NaN} ms (${l.length} ops)`;
    };
    const failed = ops.filter((o) => !o.ok).length;
    const ms = (v: number): string => (Number.isFinite(v) ? `${v} ms` : 'none');
    const verdict = (v: number): string => (Number.isFinite(v) && v < 2000 ? 'under the 2 s goal' : 'OVER the 2 s goal');
    const get = firstAfter('get');
    const put = firstAfter('put');
    const rows: Array<[string, string]> = [
      ['kill → new leader answers (Raft election)', ms(electedAt ? electedAt - killedAt : NaN)],
      ['kill → first successful get (started after)', `${ms(get)}  ${verdict(get)}`],
      ['kill → first successful put (started after)', `${ms(put)}  ${verdict(put)}`],
      ['longest stall any client saw', `${ms(stall)} (${stallWho})`],
      ['ceiling: get latency before the kill', lat('get')],
      ['ceiling: put latency before the kill', lat('put')],
      ['operations failed (after retries)', String(failed)],
      ['clients / files', `${GETTERS} getters (${FOLLOWER_READS ? 'follower reads' : 'leader reads'}) + ${PUTTERS} putters, ${FILE / 1024} KiB files, ${SECONDS} s each side of the kill`],
      ['load average at the kill', `${load.toFixed(2)} on ${os.cpus().length} cores (a shared machine: figures are noisy)`],
    ];
    process.stdout.write('\nMaster leader failover under gets and puts\n');
    for (const [k, v] of rows) process.stdout.write(`  ${k.padEnd(46)} ${v}\n`);
  } finally {
    for (const c of clients) c.close();
    admin.close();
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-failover: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
