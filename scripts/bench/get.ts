import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Session } from 'node:inspector';
import { Writable } from 'node:stream';
import { DfsClient } from '@dfs/client';
import { INSECURE, initCa, issueCertificate, tlsFrom } from '@dfs/security';
import { DFS_BIN, TestCluster } from '@dfs/testkit';
import { dropCaches, grpcGetPatternCeiling, grpcStreamCeilings } from './lib/ceilings.js';
import { cpuSecondsOf, minorFaultsOf, ownCpuSeconds } from './lib/cpu.js';
import { RssSampler, peakRssOf } from './lib/rss.js';

/*
 * make bench-get: the read path alone, TLS and --insecure side by side (issue 17's get, issue 13's
 * TLS cost). One file of BENCH_BYTES (1 GiB) is put once on each cluster (3 masters,
 * 4 chunkservers, 3 replicas); then BENCH_GET_ROUNDS (3) alternating rounds (TLS first in odd
 * rounds) each drop the page cache and get it with the library into a null sink, with the
 * library into a local file and with `dfs get` into a local file. Printed beside the tuned grpc-js download ceilings of the same run,
 * and beside the get's own transport pattern with nothing else (grpcGetPatternCeiling, plaintext
 * and TLS): what TLS costs the bare transport, against what it costs a get.
 *
 * Profiling: BENCH_PROFILE_DIR=D writes a CPU profile of the client for each library get
 * (D/client-<mode>-<round>.cpuprofile), of each `dfs get` (D/cli-<mode>-<round>.cpuprofile) and D/windows.json, the monotonic-clock window (µs) of
 * each get, so profiles of the nodes (DFS_NODE_ARGS="--cpu-prof --cpu-prof-dir=D") can be cut
 * to the same windows: node scripts/bench/dist/lib/profile-summary.js D/x.cpuprofile FROM TO.
 * CPU seconds per GiB (user + system, of the client and of all chunkservers) are printed too:
 * load on the machine bends them far less than wall-clock rates. The chunkservers' share of it
 * that is only their idle rate (sampled for 2 s before each get) is printed apart, and so are the
 * peak RSS of the client, the busiest chunkserver and `dfs get` during the gets.
 * BENCH_PARALLEL_READS=N sets the library client's chunks in flight.
 */

const MB = 1e6;
const BIG = Number(process.env.BENCH_BYTES ?? 1024 ** 3);
const ROUNDS = Math.max(1, Number(process.env.BENCH_GET_ROUNDS ?? 3));
const MODES = (process.env.BENCH_GET_MODES ?? 'tls,insecure').split(',').filter((m): m is 'tls' | 'insecure' => m === 'tls' || m === 'insecure');
const CLI = process.env.BENCH_GET_CLI !== '0';
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
/** The library client's chunks in flight (default: the client's own choice); `dfs get` keeps its default. */
const PARALLEL_READS = Number(process.env.BENCH_PARALLEL_READS ?? 0);
const IDLE_SAMPLE_MS = 2_000;

const log = (msg: string): void => void process.stderr.write(`bench-get: ${msg}\n`);
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');


function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  const block = randomBytes(4 * 1024 * 1024);
  for (let off = 0; off < size; off += block.length) writeSync(fd, block, 0, Math.min(block.length, size - off));
  closeSync(fd);
}

/** Profiles this process (the client) around `fn` when BENCH_PROFILE_DIR is set. */
async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  if (!PROFILE_DIR) return fn();
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 500 });
  await post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = (await post('Profiler.stop')) as { profile: unknown };
    writeFileSync(join(PROFILE_DIR, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}

/**
 * Runs node with `args` to its exit (inheriting stdio). Resolves with its peak RSS in bytes
 * (VmHWM), CPU seconds and minor page faults, sampled from /proc every 50 ms (so the last
 * ≤ 50 ms before exit are missed).
 */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ peakRss: number; cpu: number; minflt: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: 'inherit' });
    const seen = { peakRss: 0, cpu: 0, minflt: 0 };
    const timer = setInterval(() => {
      try {
        seen.peakRss = Math.max(seen.peakRss, peakRssOf(child.pid!) ?? 0);
        seen.cpu = cpuSecondsOf(child.pid!);
        seen.minflt = minorFaultsOf(child.pid!);
      } catch {
        // exited between the tick and the read
      }
    }, 50);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearInterval(timer);
      if (code === 0) resolve(seen);
      else reject(new Error(`dfs get exited with ${signal ?? code}`));
    });
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'dfs-bench-get-'));
  const windows: Array<{ name: string; fromUs: number; toUs: number }> = [];
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const clusters: TestCluster[] = [];
  const clients: DfsClient[] = [];
  try {
    log(`load ${load()}: ceilings (tuned grpc-js download, plaintext and mutual TLS)`);
    await initCa(join(work, 'ceiling-ca'));
    await issueCertificate({ ca: join(work, 'ceiling-ca'), identity: { role: 'master', name: 'ceiling' }, hosts: ['127.0.0.1'], out: join(work, 'ceiling-tls') });
    const plainCeiling = await grpcStreamCeilings(BIG);
    const tlsCeiling = await grpcStreamCeilings(BIG, tlsFrom(join(work, 'ceiling-tls')));
    // The get's own transport pattern (64 MiB calls one at a time, its channel and server options),
    // plaintext and TLS in ABBA order: what TLS costs the transport itself, beside what it costs a get.
    log(`load ${load()}: the get's transport pattern, plaintext and mutual TLS (ABBA)`);
    const pattern = { plain: [] as Array<Awaited<ReturnType<typeof grpcGetPatternCeiling>>>, tls: [] as Array<Awaited<ReturnType<typeof grpcGetPatternCeiling>>> };
    for (const mode of ['plain', 'tls', 'tls', 'plain'] as const) {
      pattern[mode].push(await grpcGetPatternCeiling(BIG, mode === 'tls' ? tlsFrom(join(work, 'ceiling-tls')) : INSECURE));
    }

    const src = join(work, 'big.bin');
    writeRandomFile(src, BIG);
    const modes: Record<string, { client: DfsClient; cluster: TestCluster; lib: number[]; libFile: number[]; libFileCpu: number; cli: number[]; clientCpu: number; serverCpu: number; serverIdleCpu: number; rss: { client: number; server: number; cli: number }; cliCpu: number; faults: { lib: number; cli: number } }> = {};
    for (const mode of MODES) {
      log(`starting a ${mode} cluster (3 masters, 4 chunkservers) and putting ${BIG} bytes`);
      const cluster = await TestCluster.start({ dir: join(work, mode), masters: 3, chunkservers: 4, extraArgs: ['--log-level', 'warn', ...(mode === 'insecure' ? ['--insecure'] : [])] });
      clusters.push(cluster);
      const client = new DfsClient({ masters: cluster.masterAddresses, security: cluster.security, ...(PARALLEL_READS ? { parallelReads: PARALLEL_READS } : {}) });
      clients.push(client);
      // The put is not what this bench measures: under heavy load it has failed with too few
      // replicas acknowledged; try again (said on stderr) rather than lose the run.
      for (let attempt = 1; ; attempt++) {
        try {
          await client.put(src, '/bench/big.bin');
          break;
        } catch (err) {
          if (attempt === 3) throw err;
          log(`put failed (${(err as Error).message}); trying again`);
        }
      }
      modes[mode] = { client, cluster, lib: [], libFile: [], libFileCpu: 0, cli: [], clientCpu: 0, serverCpu: 0, serverIdleCpu: 0, rss: { client: 0, server: 0, cli: 0 }, cliCpu: 0, faults: { lib: 0, cli: 0 } };
    }
    rmSync(src, { force: true });

    const got = join(work, 'got.bin');
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? MODES : [...MODES].reverse();
      for (const mode of order) {
        const m = modes[mode]!;
        if (!dropCaches()) log('cannot drop the page cache (not root): figures are warm');
        const servers = m.cluster.info.chunkservers.map((c) => c.pid);
        // What the chunkservers burn doing nothing (heartbeats, timers) for 2 s just before: a
        // slower get counts more of it, so it is printed apart from the get's own work.
        const idleFrom = servers.reduce((n, pid) => n + cpuSecondsOf(pid), 0);
        await new Promise((r) => setTimeout(r, IDLE_SAMPLE_MS));
        const idlePerSec = (servers.reduce((n, pid) => n + cpuSecondsOf(pid), 0) - idleFrom) / (IDLE_SAMPLE_MS / 1000);
        const serverCpu = servers.reduce((n, pid) => n + cpuSecondsOf(pid), 0);
        const clientCpu = ownCpuSeconds();
        const faults = process.resourceUsage().minorPageFault;
        const fromUs = nowUs();
        const started = process.hrtime.bigint();
        const sampler = new RssSampler(new Map(m.cluster.info.chunkservers.map((c) => [c.id, c.pid])), 50).start();
        await profiled(`client-${mode}-${round}`, () => m.client.get('/bench/big.bin', new Writable({ write: (_c, _e, cb) => cb() })));
        const secs = Number(process.hrtime.bigint() - started) / 1e9;
        for (const [name, rss] of sampler.stop()) {
          if (name === 'client') m.rss.client = Math.max(m.rss.client, rss);
          else m.rss.server = Math.max(m.rss.server, rss);
        }
        m.clientCpu += ownCpuSeconds() - clientCpu;
        m.faults.lib += process.resourceUsage().minorPageFault - faults;
        m.serverCpu += servers.reduce((n, pid) => n + cpuSecondsOf(pid), 0) - serverCpu;
        m.serverIdleCpu += idlePerSec * secs;
        windows.push({ name: `lib-${mode}-${round}`, fromUs, toUs: nowUs() });
        m.lib.push(BIG / MB / secs);
        log(`round ${round} ${mode}: library get ${(BIG / MB / secs).toFixed(1)} MB/s (load ${load()})`);
        if (!CLI) continue;
        // Like for like with `dfs get`: the same warm library writing the same local file.
        dropCaches();
        const fileCpu = ownCpuSeconds();
        const fileStarted = process.hrtime.bigint();
        await m.client.get('/bench/big.bin', got);
        const fileSecs = Number(process.hrtime.bigint() - fileStarted) / 1e9;
        m.libFileCpu += ownCpuSeconds() - fileCpu;
        rmSync(got, { force: true });
        m.libFile.push(BIG / MB / fileSecs);
        log(`round ${round} ${mode}: library get to a local file ${(BIG / MB / fileSecs).toFixed(1)} MB/s (load ${load()})`);
        dropCaches();
        const cliFrom = nowUs();
        const cliStarted = process.hrtime.bigint();
        const run = await runCli([...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=cli-${mode}-${round}.cpuprofile`] : []), DFS_BIN, 'get', '-q', '/bench/big.bin', got], { ...process.env, ...m.cluster.env });
        m.rss.cli = Math.max(m.rss.cli, run.peakRss);
        m.cliCpu += run.cpu;
        m.faults.cli += run.minflt;
        const cliSecs = Number(process.hrtime.bigint() - cliStarted) / 1e9;
        windows.push({ name: `cli-${mode}-${round}`, fromUs: cliFrom, toUs: nowUs() });
        rmSync(got, { force: true });
        m.cli.push(BIG / MB / cliSecs);
        log(`round ${round} ${mode}: dfs get ${(BIG / MB / cliSecs).toFixed(1)} MB/s (load ${load()})`);
      }
    }

    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const each = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join('/');
    const out = (s: string): void => void process.stdout.write(`${s}\n`);
    const added = (tls: number, plain: number): string => `${tls >= plain ? '+' : '−'}${Math.abs(100 * (tls / plain - 1)).toFixed(0)}%`;
    out(`\nget of ${(BIG / 1024 ** 3).toFixed(2)} GiB, 3 replicas, caches dropped, ${ROUNDS} alternating rounds, load now ${load()}`);
    const cpu = (c: { client: number; server: number }): string => `CPU s per GiB: client ${c.client.toFixed(2)}, server ${c.server.toFixed(2)}`;
    out(`ceiling: grpc-js download, 1 MiB raw msgs, plaintext ${plainCeiling.downloadMBps.toFixed(0)} MB/s; ${cpu(plainCeiling.downloadCpuPerGiB)}`);
    out(`ceiling: the same over mutual TLS            ${tlsCeiling.downloadMBps.toFixed(0)} MB/s; ${cpu(tlsCeiling.downloadCpuPerGiB)}`);
    const avg = (rs: typeof pattern.plain): { MBps: number; client: number; server: number; deliveries: number } => ({
      MBps: mean(rs.map((r) => r.MBps)),
      deliveries: mean(rs.map((r) => r.deliveriesPerMiB ?? NaN)),
      client: mean(rs.map((r) => r.cpuPerGiB.client)),
      server: mean(rs.map((r) => r.cpuPerGiB.server)),
    });
    const [pp, pt] = [avg(pattern.plain), avg(pattern.tls)];
    out(`get pattern (64 MiB calls, one at a time), plaintext ${pp.MBps.toFixed(0)} MB/s; ${cpu(pp)}`);
    out(`get pattern over mutual TLS                   ${pt.MBps.toFixed(0)} MB/s; ${cpu(pt)}; TLS adds client ${added(pt.client, pp.client)}, server ${added(pt.server, pp.server)}`);
    out(`  HTTP/2 data pieces the client's JavaScript handles per MiB: plaintext ${pp.deliveries.toFixed(0)}, TLS ${pt.deliveries.toFixed(0)}`);
    for (const mode of MODES) {
      const m = modes[mode]!;
      const ceiling = (mode === 'tls' ? tlsCeiling : plainCeiling).downloadMBps;
      const perGiB = (secs: number): string => ((secs / (ROUNDS * BIG)) * 1024 ** 3).toFixed(2);
      out(`${mode.padEnd(8)} library get ${mean(m.lib).toFixed(1).padStart(6)} MB/s (${each(m.lib)}), ${(mean(m.lib) / ceiling).toFixed(2)}× its ceiling; ` +
        `CPU s per GiB: client ${perGiB(m.clientCpu)}, chunkservers ${perGiB(m.serverCpu)} (${perGiB(m.serverIdleCpu)} of it their idle rate)`);
      const perMiB = (n: number): string => (n / ((ROUNDS * BIG) / 1024 ** 2)).toFixed(0);
      if (CLI) {
        out(`${mode.padEnd(8)} library get to a local file ${mean(m.libFile).toFixed(1)} MB/s (${each(m.libFile)}); CPU s per GiB: client ${perGiB(m.libFileCpu)}`);
        out(`${mode.padEnd(8)} dfs get     ${mean(m.cli).toFixed(1).padStart(6)} MB/s (${each(m.cli)}), ${(mean(m.cli) / mean(m.lib)).toFixed(2)}× the library, ` +
          `${(mean(m.cli) / mean(m.libFile)).toFixed(2)}× the library to a local file; CPU s per GiB (the whole process, start-up included) ${perGiB(m.cliCpu)}`);
      }
      out(`${mode.padEnd(8)} minor page faults per MiB: library get ${perMiB(m.faults.lib)}` + (CLI ? `, dfs get ${perMiB(m.faults.cli)} (start-up included)` : ''));
      const mib = (b: number): string => (b / 1024 ** 2).toFixed(0);
      out(`${mode.padEnd(8)} peak RSS during the gets, MiB: library client ${mib(m.rss.client)} (its heap also served the ceilings and the put), busiest chunkserver ${mib(m.rss.server)}` +
        (CLI ? `, dfs get ${mib(m.rss.cli)}` : ''));
    }
    if (modes.tls && modes.insecure) {
      out(`TLS costs: library get ${(100 * (1 - mean(modes.tls.lib) / mean(modes.insecure.lib))).toFixed(1)}%` +
        (CLI ? `, dfs get ${(100 * (1 - mean(modes.tls.cli) / mean(modes.insecure.cli))).toFixed(1)}%` : '') + ' (issue 13: ≤ 15%); ' +
        `CPU per GiB: client ${added(modes.tls.clientCpu, modes.insecure.clientCpu)}, chunkservers ${added(modes.tls.serverCpu, modes.insecure.serverCpu)} ` +
        `(${added(modes.tls.serverCpu - modes.tls.serverIdleCpu, modes.insecure.serverCpu - modes.insecure.serverIdleCpu)} above their idle rate)`);
    }
    if (PROFILE_DIR) writeFileSync(join(PROFILE_DIR, 'windows.json'), JSON.stringify(windows, null, 1));
  } finally {
    clients.forEach((c) => c.close());
    await Promise.all(clusters.map((c) => c.stop()));
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-get failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
