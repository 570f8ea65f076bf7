import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DfsClient } from '@dfs/client';
import { initCa, issueCertificate, tlsFrom } from '@dfs/security';
import { TestCluster } from '@dfs/testkit';
import { dropCaches, grpcStreamCeilings } from './lib/ceilings.js';

/*
 * make bench-put: the write path alone, for profiling and before/after comparisons.
 * A TLS cluster and an --insecure one (3 masters, 4 chunkservers each) up at once; BENCH_PUT_ROUNDS
 * (2) alternating rounds of a library put of BENCH_BYTES (1 GiB) from a local file, beside the
 * tuned grpc-js upload ceilings (plain and TLS) measured in the same run, with the load average.
 * Beside each rate: the CPU seconds per GiB of the client, the chunkservers and the masters
 * (from /proc): load bends that figure far less than wall time, and 2 cores / (CPU s per GiB)
 * bounds the rate this machine can reach.
 * BENCH_PUT_MODES=tls (or insecure) runs one mode only. For profiles, run the script itself
 * under `node --cpu-prof` (the client) with DFS_NODE_ARGS="--cpu-prof --cpu-prof-dir=D" (every node).
 */

const MB = 1e6;
const BIG = Number(process.env.BENCH_BYTES ?? 1024 ** 3);
const ROUNDS = Math.max(1, Number(process.env.BENCH_PUT_ROUNDS ?? 2));
const MODES = (process.env.BENCH_PUT_MODES ?? 'tls,insecure').split(',').filter((m): m is 'tls' | 'insecure' => m === 'tls' || m === 'insecure');

function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  const block = randomBytes(4 * 1024 * 1024);
  for (let off = 0; off < size; off += block.length) writeSync(fd, block, 0, Math.min(block.length, size - off));
  closeSync(fd);
}

/** user+sys CPU seconds of a process so far, from /proc/<pid>/stat (0 once it is gone). */
function cpuSecs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/** read + write system calls of a process so far (syscr + syscw of /proc/<pid>/io; sockets and files alike). */
function ioCalls(pid: number | 'self'): number {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? 0);
    return field('syscr') + field('syscw');
  } catch {
    return 0;
  }
}

interface Usage {
  client: number;
  chunkservers: number;
  masters: number;
  clientCalls: number;
  chunkserverCalls: number;
}

/** CPU seconds and read/write calls of the client (this process), the cluster's chunkservers and its masters. */
function usage(cluster: TestCluster): Usage {
  const own = process.cpuUsage();
  const sum = (nodes: Array<{ pid: number }>, f: (pid: number) => number): number => nodes.reduce((a, n) => a + f(n.pid), 0);
  return {
    client: (own.user + own.system) / 1e6,
    chunkservers: sum(cluster.info.chunkservers, cpuSecs),
    masters: sum(cluster.info.masters, cpuSecs),
    clientCalls: ioCalls('self'),
    chunkserverCalls: sum(cluster.info.chunkservers, ioCalls),
  };
}

const none = (): Usage => ({ client: 0, chunkservers: 0, masters: 0, clientCalls: 0, chunkserverCalls: 0 });

const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'dfs-bench-put-'));
  const log = (msg: string): void => void process.stderr.write(`bench-put: ${msg}\n`);
  const clusters: TestCluster[] = [];
  const clients: DfsClient[] = [];
  try {
    log(`load ${load()}; measuring grpc-js upload ceilings`);
    const grpc = await grpcStreamCeilings();
    await initCa(join(work, 'ceiling-ca'));
    await issueCertificate({ ca: join(work, 'ceiling-ca'), identity: { role: 'master', name: 'ceiling' }, hosts: ['127.0.0.1'], out: join(work, 'ceiling-tls') });
    const grpcTls = await grpcStreamCeilings(undefined, tlsFrom(join(work, 'ceiling-tls')));
    const src = join(work, 'big.bin');
    writeRandomFile(src, BIG);
    const byMode = new Map<string, { cluster: TestCluster; client: DfsClient; rates: number[]; cpu: Usage }>();
    for (const mode of MODES) {
      const cluster = await TestCluster.start({
        dir: join(work, mode),
        masters: 3,
        chunkservers: 4,
        extraArgs: ['--log-level', 'warn', ...(mode === 'insecure' ? ['--insecure'] : [])],
      });
      clusters.push(cluster);
      const client = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security });
      clients.push(client);
      byMode.set(mode, { cluster, client, rates: [], cpu: none() });
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? MODES : [...MODES].reverse();
      for (const mode of order) {
        const m = byMode.get(mode)!;
        dropCaches();
        const before = load();
        const cpu0 = usage(m.cluster);
        const started = process.hrtime.bigint();
        await m.client.put(src, `/bench/put-${round}.bin`);
        const secs = Number(process.hrtime.bigint() - started) / 1e9;
        const cpu1 = usage(m.cluster);
        for (const k of Object.keys(m.cpu) as Array<keyof Usage>) m.cpu[k] += cpu1[k] - cpu0[k];
        m.rates.push(BIG / MB / secs);
        // The window on the monotonic clock in µs, as V8's .cpuprofile timestamps: profiles cut to the put alone.
        const window = `${started / 1000n}-${(started + BigInt(Math.round(secs * 1e9))) / 1000n}`;
        log(`round ${round} ${mode}: ${(BIG / MB / secs).toFixed(1)} MB/s (load before ${before}, after ${load()}; window µs ${window})`);
        await m.client.rm(`/bench/put-${round}.bin`, { skipTrash: true });
      }
    }
    const out = (s: string): void => void process.stdout.write(`${s}\n`);
    out(`put ${(BIG / 1024 ** 2).toFixed(0)} MiB, 3 replicas, ${ROUNDS} rounds; load average now ${load()}`);
    out(`ceiling: grpc-js upload, 1 MiB raw msgs   plain ${grpc.uploadMBps.toFixed(0)} MB/s, TLS ${grpcTls.uploadMBps.toFixed(0)} MB/s`);
    for (const [mode, m] of byMode) {
      const mean = m.rates.reduce((a, b) => a + b, 0) / m.rates.length;
      const ceiling = mode === 'tls' ? grpcTls.uploadMBps : grpc.uploadMBps;
      out(`put ${mode.padEnd(8)} ${mean.toFixed(1).padStart(6)} MB/s (rounds ${m.rates.map((r) => r.toFixed(1)).join(' / ')}), ${(mean / ceiling).toFixed(2)}× its ceiling`);
      const perGiB = (secs: number): string => (secs / ((ROUNDS * BIG) / 1024 ** 3)).toFixed(1);
      const total = m.cpu.client + m.cpu.chunkservers + m.cpu.masters;
      const perMiB = (calls: number): string => (calls / ((ROUNDS * BIG) / 1024 ** 2)).toFixed(0);
      out(`  read+write calls per MiB: client ${perMiB(m.cpu.clientCalls)}, chunkservers (all) ${perMiB(m.cpu.chunkserverCalls)}`);
      out(`  CPU s per GiB: client ${perGiB(m.cpu.client)}, chunkservers ${perGiB(m.cpu.chunkservers)}, masters ${perGiB(m.cpu.masters)}; all ${perGiB(total)} → at most ${((2 * ROUNDS * BIG) / MB / total).toFixed(0)} MB/s on 2 cores`);
    }
  } catch (err) {
    log(`kept ${work} (the clusters' logs) for a look at the failure`);
    throw err;
  } finally {
    for (const c of clients) c.close();
    for (const c of clusters) await c.stop().catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench-put failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
