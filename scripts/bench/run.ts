import { mkdirSync, mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { DfsClient } from '@dfs/client';
import { diskWriteMBps, grpcStreamMBps, loopbackTcpMBps } from './lib/ceilings.js';
import { startBenchCluster } from './lib/cluster.js';
import { RssSampler } from './lib/rss.js';

/*
 * make bench: dfs figures beside the machine's own ceilings measured in the same run.
 * Sizes can be lowered for a quick look: BENCH_BYTES=268435456 make bench
 */

const MB = 1e6;
const BIG = Number(process.env.BENCH_BYTES ?? 1024 ** 3);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 2000);
const CONCURRENCY = 16;
/** BENCH_CHUNK_SIZE=1MiB reproduces small-chunk runs (default: the cluster default, 64 MiB). */
const CHUNK_SIZE = process.env.BENCH_CHUNK_SIZE;
/**
 * Memory phase: a put and a get of this many bytes with the RSS of every process (client,
 * masters, chunkservers) sampled every 200 ms; the bound is 300 MiB each. Part of `make bench`
 * rather than `make test`: it moves 8 GiB through the disks (3 replicas + the source), which
 * takes minutes on the shared 2-core box. BENCH_MEMORY_BYTES=0 skips it.
 */
const MEMORY_BYTES = Number(process.env.BENCH_MEMORY_BYTES ?? 2 * 1024 ** 3);
const RSS_BOUND = 300 * 1024 * 1024;

interface Row {
  name: string;
  value: number;
  unit: string;
  ratio?: string;
  target?: string;
}

function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  const block = randomBytes(4 * 1024 * 1024);
  for (let off = 0; off < size; off += block.length) writeSync(fd, block, 0, Math.min(block.length, size - off));
  closeSync(fd);
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Runs `total` tasks with `concurrency` workers. */
async function pool(total: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) await task(next++);
  }));
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'dfs-bench-'));
  const rows: Row[] = [];
  if (CHUNK_SIZE) rows.push({ name: `chunk size ${CHUNK_SIZE}`, value: 0, unit: '' });
  const memory: Record<string, number> = {};
  const log = (msg: string): void => void process.stderr.write(`bench: ${msg}\n`);
  try {
    log('measuring ceilings (disk, loopback TCP, bare grpc-js stream)');
    const disk = diskWriteMBps(work);
    const tcp = await loopbackTcpMBps();
    const grpc = await grpcStreamMBps();
    rows.push({ name: 'ceiling: disk write (dd conv=fdatasync)', value: disk, unit: 'MB/s' });
    rows.push({ name: 'ceiling: loopback TCP, 2 processes', value: tcp, unit: 'MB/s' });
    rows.push({ name: 'ceiling: bare grpc-js stream, 64 KiB msgs', value: grpc, unit: 'MB/s' });

    log('starting a cluster: 3 masters, 4 chunkservers');
    const cluster = await startBenchCluster(join(work, 'cluster'), [
      '--masters', '3', '--chunkservers', '4', '--log-level', 'warn', ...(CHUNK_SIZE ? ['--chunk-size', CHUNK_SIZE] : []),
    ]);
    const client = new DfsClient({ masters: cluster.masters, security: cluster.security });
    try {
      const src = join(work, 'big.bin');
      writeRandomFile(src, BIG);
      log(`put ${BIG} bytes`);
      const putSecs = await timed(() => client.put(src, '/bench/big.bin'));
      const put = BIG / MB / putSecs;
      // Every byte is written by 3 replicas on this one machine's disk and crosses 3 gRPC hops:
      // the put's real ceiling is a third of either.
      rows.push({
        name: `put ${(BIG / 1024 ** 3).toFixed(2)} GiB`,
        value: put,
        unit: 'MB/s',
        ratio: `${(put / disk).toFixed(2)}× disk (${((3 * put) / disk).toFixed(2)}× disk/3), ${(put / grpc).toFixed(2)}× grpc`,
        target: '≥ 120',
      });
      log(`get ${BIG} bytes`);
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      const getSecs = await timed(() => client.get('/bench/big.bin', sink));
      const get = BIG / MB / getSecs;
      rows.push({ name: `get ${(BIG / 1024 ** 3).toFixed(2)} GiB`, value: get, unit: 'MB/s', ratio: `${(get / tcp).toFixed(2)}× tcp, ${(get / grpc).toFixed(2)}× grpc`, target: '≥ 520' });

      log(`${SMALL_FILES} small files, ${CONCURRENCY} clients`);
      const payload = randomBytes(1024);
      const clients = Array.from({ length: CONCURRENCY }, () => new DfsClient({ masters: cluster.masters, security: cluster.security }));
      await client.mkdir('/bench/small', { parents: true });
      const createSecs = await timed(() => pool(SMALL_FILES, CONCURRENCY, async (i) => {
        const { Readable } = await import('node:stream');
        await clients[i % CONCURRENCY]!.put(Readable.from([payload]), `/bench/small/f${i}`);
      }));
      rows.push({ name: '1 KiB creates, 16 clients', value: SMALL_FILES / createSecs, unit: 'files/s', target: '≥ 1,000' });
      const readSecs = await timed(() => pool(SMALL_FILES, CONCURRENCY, async (i) => {
        await clients[i % CONCURRENCY]!.readFile(`/bench/small/f${i}`);
      }));
      rows.push({ name: '1 KiB reads, 16 clients', value: SMALL_FILES / readSecs, unit: 'files/s', target: '≥ 5,000' });
      clients.forEach((c) => c.close());

      if (MEMORY_BYTES > 0) {
        const mem = join(work, 'memory.bin');
        writeRandomFile(mem, MEMORY_BYTES);
        log(`memory: put and get ${MEMORY_BYTES} bytes, sampling every process's RSS`);
        const sampler = new RssSampler(cluster.pids).start();
        const memClient = new DfsClient({ masters: cluster.masters, security: cluster.security });
        try {
          await memClient.put(mem, '/bench/memory.bin');
          await memClient.get('/bench/memory.bin', new Writable({ write: (_c, _e, cb) => cb() }));
        } finally {
          memClient.close();
          rmSync(mem, { force: true });
        }
        const peaks = sampler.stop();
        let worst = ['', 0] as [string, number];
        for (const [name, rss] of peaks) {
          memory[name] = Math.round(rss / 1024 / 1024);
          if (rss > worst[1]) worst = [name, rss];
        }
        rows.push({
          name: `peak RSS, ${(MEMORY_BYTES / 1024 ** 3).toFixed(1)} GiB put+get (worst: ${worst[0]})`,
          value: worst[1] / 1024 / 1024,
          unit: 'MiB',
          ratio: worst[1] < RSS_BOUND ? 'within bound' : 'OVER BOUND',
          target: '< 300',
        });
        log(`peak RSS (MiB): ${JSON.stringify(memory)}`);
      }
    } finally {
      client.close();
      await cluster.stop();
    }

    // The cost of mutual TLS: the same put and get on a cluster started with --insecure.
    // The rows above are the TLS figures (the default); the bound is 15%.
    const tlsPut = rows.find((r) => r.name.startsWith('put '))!.value;
    const tlsGet = rows.find((r) => r.name.startsWith('get '))!.value;
    log('starting a plaintext cluster (--insecure) for the TLS cost');
    const plain = await startBenchCluster(join(work, 'cluster-insecure'), [
      '--masters', '3', '--chunkservers', '4', '--log-level', 'warn', '--insecure', ...(CHUNK_SIZE ? ['--chunk-size', CHUNK_SIZE] : []),
    ]);
    const plainClient = new DfsClient({ masters: plain.masters, security: plain.security });
    try {
      const src = join(work, 'big.bin'); // the same file the TLS put read
      log(`put ${BIG} bytes, --insecure`);
      const put = BIG / MB / (await timed(() => plainClient.put(src, '/bench/big.bin')));
      log(`get ${BIG} bytes, --insecure`);
      const get = BIG / MB / (await timed(() => plainClient.get('/bench/big.bin', new Writable({ write: (_c, _e, cb) => cb() }))));
      const cost = (tls: number, insecure: number): string => `TLS costs ${(100 * (1 - tls / insecure)).toFixed(1)}%`;
      rows.push({ name: `put ${(BIG / 1024 ** 3).toFixed(2)} GiB, --insecure`, value: put, unit: 'MB/s', ratio: cost(tlsPut, put), target: 'TLS ≤ 15%' });
      rows.push({ name: `get ${(BIG / 1024 ** 3).toFixed(2)} GiB, --insecure`, value: get, unit: 'MB/s', ratio: cost(tlsGet, get), target: 'TLS ≤ 15%' });
    } finally {
      plainClient.close();
      await plain.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const width = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`\n${'benchmark'.padEnd(width)}  ${'value'.padStart(10)}  unit     ratio to ceilings             target\n`);
  for (const r of rows) {
    process.stdout.write(`${r.name.padEnd(width)}  ${r.value.toFixed(1).padStart(10)}  ${r.unit.padEnd(8)} ${(r.ratio ?? '').padEnd(29)} ${r.target ?? ''}\n`);
  }
  mkdirSync('.bench', { recursive: true });
  writeFileSync('.bench/results.json', JSON.stringify({ date: new Date().toISOString(), load: os.loadavg(), rows, peakRssMiB: memory }, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
