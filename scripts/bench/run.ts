import { mkdirSync, mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { DfsClient } from '@dfs/client';
import { initCa, issueCertificate, tlsFrom } from '@dfs/security';
import { DFS_BIN, TestCluster } from '@dfs/testkit';
import { diskWriteMBps, dropCaches, grpcStreamCeilings, loopbackTcpMBps } from './lib/ceilings.js';
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
/**
 * The cost of mutual TLS: the same put and get on the TLS cluster and on an --insecure one,
 * both up at once, in alternating rounds (TLS first in odd rounds, plaintext first in even
 * ones), page cache dropped before every transfer, before the memory phase — so neither mode
 * inherits the other's warm or dirty caches or a heavier machine. BENCH_TLS_ROUNDS (2).
 */
const TLS_ROUNDS = Math.max(1, Number(process.env.BENCH_TLS_ROUNDS ?? 2));
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
    log('measuring ceilings (disk, loopback TCP, tuned grpc-js stream both ways)');
    const disk = diskWriteMBps(work);
    const tcp = await loopbackTcpMBps();
    const grpc = await grpcStreamCeilings();
    await initCa(join(work, 'ceiling-ca'));
    await issueCertificate({ ca: join(work, 'ceiling-ca'), identity: { role: 'master', name: 'ceiling' }, hosts: ['127.0.0.1'], out: join(work, 'ceiling-tls') });
    const grpcTls = await grpcStreamCeilings(undefined, tlsFrom(join(work, 'ceiling-tls')));
    const tlsCost = (tls: number, plain: number): string => `TLS costs ${(100 * (1 - tls / plain)).toFixed(1)}%`;
    rows.push({ name: 'ceiling: disk write (dd conv=fdatasync)', value: disk, unit: 'MB/s' });
    rows.push({ name: 'ceiling: loopback TCP, 2 processes', value: tcp, unit: 'MB/s' });
    rows.push({ name: 'ceiling: grpc-js upload, 1 MiB raw msgs, wide window', value: grpc.uploadMBps, unit: 'MB/s' });
    rows.push({ name: 'ceiling: grpc-js download, 1 MiB raw msgs, 64 MiB window', value: grpc.downloadMBps, unit: 'MB/s' });
    rows.push({ name: 'ceiling: the same upload over mutual TLS 1.3', value: grpcTls.uploadMBps, unit: 'MB/s', ratio: tlsCost(grpcTls.uploadMBps, grpc.uploadMBps) });
    rows.push({ name: 'ceiling: the same download over mutual TLS 1.3', value: grpcTls.downloadMBps, unit: 'MB/s', ratio: tlsCost(grpcTls.downloadMBps, grpc.downloadMBps) });

    log('starting a cluster: 3 masters, 4 chunkservers');
    const cluster = await TestCluster.start({
      dir: join(work, 'cluster'),
      masters: 3,
      chunkservers: 4,
      extraArgs: ['--log-level', 'warn', ...(CHUNK_SIZE ? ['--chunk-size', CHUNK_SIZE] : [])],
    });
    const client = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security });
    try {
      const src = join(work, 'big.bin');
      writeRandomFile(src, BIG);
      log('starting a plaintext cluster (--insecure) beside it, for the cost of TLS');
      const plain = await TestCluster.start({
        dir: join(work, 'cluster-insecure'),
        masters: 3,
        chunkservers: 4,
        extraArgs: ['--log-level', 'warn', '--insecure', ...(CHUNK_SIZE ? ['--chunk-size', CHUNK_SIZE] : [])],
      });
      const plainClient = new DfsClient({ masters: plain.masterAddresses, security: plain.security });
      const modes = { tls: { client, put: 0, get: 0, puts: [] as number[], gets: [] as number[] }, insecure: { client: plainClient, put: 0, get: 0, puts: [] as number[], gets: [] as number[] } };
      let caches = true;
      try {
        for (let round = 1; round <= TLS_ROUNDS; round++) {
          const order = round % 2 === 1 ? (['tls', 'insecure'] as const) : (['insecure', 'tls'] as const);
          for (const mode of order) {
            const m = modes[mode];
            const path = `/bench/big-${round}.bin`;
            caches = dropCaches() && caches;
            log(`round ${round}: put ${BIG} bytes, ${mode}`);
            const putSecs = await timed(() => m.client.put(src, path));
            caches = dropCaches() && caches;
            log(`round ${round}: get ${BIG} bytes, ${mode}`);
            const getSecs = await timed(() => m.client.get(path, new Writable({ write: (_c, _e, cb) => cb() })));
            m.put += putSecs;
            m.get += getSecs;
            m.puts.push(BIG / MB / putSecs);
            m.gets.push(BIG / MB / getSecs);
            if (round < TLS_ROUNDS) await m.client.rm(path, { skipTrash: true });
          }
        }
      } finally {
        plainClient.close();
        await plain.stop();
      }
      const rate = (secs: number): number => (TLS_ROUNDS * BIG) / MB / secs;
      const each = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join('/');
      log(`MB/s per round — put: TLS ${each(modes.tls.puts)}, insecure ${each(modes.insecure.puts)}; get: TLS ${each(modes.tls.gets)}, insecure ${each(modes.insecure.gets)}`);
      const put = rate(modes.tls.put);
      const get = rate(modes.tls.get);
      const plainPut = rate(modes.insecure.put);
      const plainGet = rate(modes.insecure.get);
      const kept = `/bench/big-${TLS_ROUNDS}.bin`; // the last round's file on the TLS cluster: dfs stat below
      // Every byte is written by 3 replicas on this one machine's disk and crosses 3 gRPC hops:
      // the put's real ceiling is a third of either.
      rows.push({
        name: `put ${(BIG / 1024 ** 3).toFixed(2)} GiB (TLS, ${TLS_ROUNDS} rounds)`,
        value: put,
        unit: 'MB/s',
        ratio: `${((3 * put) / disk).toFixed(2)}× disk/3, ${(put / grpcTls.uploadMBps).toFixed(2)}× grpc TLS up`,
        target: '≥ 120',
      });
      rows.push({
        name: `get ${(BIG / 1024 ** 3).toFixed(2)} GiB (TLS, ${TLS_ROUNDS} rounds)${caches ? ', caches dropped' : ', CACHES WARM'}`,
        value: get,
        unit: 'MB/s',
        ratio: `${(get / grpcTls.downloadMBps).toFixed(2)}× grpc TLS down`,
        target: '≥ 520',
      });
      rows.push({ name: `put ${(BIG / 1024 ** 3).toFixed(2)} GiB, --insecure`, value: plainPut, unit: 'MB/s', ratio: tlsCost(put, plainPut), target: 'TLS ≤ 15%' });
      rows.push({ name: `get ${(BIG / 1024 ** 3).toFixed(2)} GiB, --insecure`, value: plainGet, unit: 'MB/s', ratio: tlsCost(get, plainGet), target: 'TLS ≤ 15%' });

      // The CLI: a process start, the local file read or written, the same library underneath.
      const env = { ...process.env, ...cluster.env };
      log(`dfs put / dfs get ${BIG} bytes`);
      const cliPut = BIG / MB / (await timed(async () => execFileSync(process.execPath, [DFS_BIN, 'put', '-q', src, '/bench/cli.bin'], { env, stdio: 'inherit' })));
      rows.push({ name: 'dfs put (CLI, local file)', value: cliPut, unit: 'MB/s', ratio: `${(cliPut / put).toFixed(2)}× library put`, target: '≥ 0.9× library' });
      dropCaches();
      const got = join(work, 'got.bin');
      const cliGet = BIG / MB / (await timed(async () => execFileSync(process.execPath, [DFS_BIN, 'get', '-q', '/bench/cli.bin', got], { env, stdio: 'inherit' })));
      rmSync(got, { force: true });
      rows.push({ name: 'dfs get (CLI, to a local file)', value: cliGet, unit: 'MB/s', ratio: `${(cliGet / get).toFixed(2)}× library get`, target: '≥ 0.9× library' });
      await client.rm('/bench/cli.bin', { skipTrash: true });

      // CLI start-up: a whole `dfs stat` (process start to exit, one master call) beside a bare node start.
      const median = (f: () => void): number => {
        const times = Array.from({ length: 9 }, () => {
          const started = process.hrtime.bigint();
          f();
          return Number(process.hrtime.bigint() - started) / 1e6;
        }).sort((x, y) => x - y);
        return times[4]!;
      };
      execFileSync(process.execPath, [DFS_BIN, 'stat', kept], { env, stdio: 'ignore' }); // warms the compile cache
      const nodeMs = median(() => execFileSync(process.execPath, ['-e', '0'], { stdio: 'ignore' }));
      const statMs = median(() => execFileSync(process.execPath, [DFS_BIN, 'stat', kept], { env, stdio: 'ignore' }));
      rows.push({ name: 'ceiling: node -e 0, median of 9', value: nodeMs, unit: 'ms' });
      rows.push({ name: 'dfs stat (whole process), median of 9', value: statMs, unit: 'ms', ratio: `node start + ${(statMs - nodeMs).toFixed(0)} ms`, target: '≤ 150' });

      log(`${SMALL_FILES} small files, ${CONCURRENCY} clients`);
      const payload = randomBytes(1024);
      const clients = Array.from({ length: CONCURRENCY }, () => new DfsClient({ masters: cluster.masterAddresses, security: cluster.security }));
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
        const memClient = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security });
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
