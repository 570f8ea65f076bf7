import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSECURE, initCa, issueCertificate, tlsFrom, type Security } from '@dfs/security';
import { grpcGetPatternCeiling, type GetPattern, type GetPatternFigures } from './lib/ceilings.js';

/*
 * make bench-get-pattern: a get's transport pattern taken apart, with nothing of dfs in it
 * (grpcGetPatternCeiling: the client's chunkserver channel, the chunkserver's server options,
 * raw pre-framed 1 MiB messages). For call sizes BENCH_PATTERN_CALL_MIB (4,16,64) and calls in
 * flight BENCH_PATTERN_IN_FLIGHT (1,2,3,6), plus one long stream of all BENCH_BYTES (512 MiB), it
 * measures the client's and the server's CPU seconds per GiB, MB/s, the client's GC pauses per GiB
 * and its peak RSS, the HTTP/2 data pieces its decoder handles per MiB, plaintext and mutual TLS. Each pattern is run BENCH_PATTERN_ROUNDS (2) times,
 * the list forward then backward, TLS and plaintext alternating (ABBA), and the medians are
 * printed: the machine is shared, CPU per GiB is what to read. BENCH_PATTERN_WINDOW_MIB sets the
 * client's receive window (default: the data path's).
 */

const BYTES = Number(process.env.BENCH_BYTES ?? 512 * 1024 ** 2);
const ROUNDS = Math.max(1, Number(process.env.BENCH_PATTERN_ROUNDS ?? 2));
const MiB = 1024 * 1024;
const list = (v: string | undefined, d: string): number[] => (v ?? d).split(',').map(Number).filter((n) => n > 0);
const CALL_MIB = list(process.env.BENCH_PATTERN_CALL_MIB, '4,16,64');
const IN_FLIGHT = list(process.env.BENCH_PATTERN_IN_FLIGHT, '1,2,3,6');
const WINDOW = process.env.BENCH_PATTERN_WINDOW_MIB ? Number(process.env.BENCH_PATTERN_WINDOW_MIB) * MiB : undefined;

const log = (msg: string): void => void process.stderr.write(`bench-get-pattern: ${msg}\n`);
const load = (): string => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'dfs-bench-pattern-'));
  try {
    await initCa(join(work, 'ca'));
    await issueCertificate({ ca: join(work, 'ca'), identity: { role: 'master', name: 'pattern' }, hosts: ['127.0.0.1'], out: join(work, 'tls') });
    const tls = tlsFrom(join(work, 'tls'));
    const patterns: Array<GetPattern & { name: string }> = [];
    for (const mib of CALL_MIB) for (const n of IN_FLIGHT) patterns.push({ name: `${mib} MiB × ${n}`, callBytes: mib * MiB, inFlight: n, window: WINDOW });
    patterns.push({ name: 'one stream', callBytes: BYTES, inFlight: 1, window: WINDOW });
    const figures = new Map<string, { plain: GetPatternFigures[]; tls: GetPatternFigures[] }>(patterns.map((p) => [p.name, { plain: [], tls: [] }]));
    log(`load ${load()}: ${patterns.length} patterns × ${ROUNDS} rounds × plaintext, TLS; ${BYTES} bytes each`);
    // Warm-up: the first run of a process pays JIT and heap growth, which belongs to no pattern.
    await grpcGetPatternCeiling(Math.min(BYTES, 64 * MiB), INSECURE);
    let flip = false;
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of round % 2 ? [...patterns].reverse() : patterns) {
        const order: Array<['plain' | 'tls', Security]> = flip ? [['tls', tls], ['plain', INSECURE]] : [['plain', INSECURE], ['tls', tls]];
        flip = !flip;
        for (const [mode, security] of order) figures.get(p.name)![mode].push(await grpcGetPatternCeiling(BYTES, security, p));
      }
      log(`round ${round + 1} done, load ${load()}`);
    }
    const cell = (fs: GetPatternFigures[]): string =>
      [
        median(fs.map((f) => f.cpuPerGiB.client)).toFixed(2),
        median(fs.map((f) => f.cpuPerGiB.server)).toFixed(2),
        median(fs.map((f) => f.MBps)).toFixed(0),
        median(fs.map((f) => f.gcMsPerGiB)).toFixed(0),
        median(fs.map((f) => f.peakRssMiB)).toFixed(0),
        fs[0]!.deliveriesPerMiB === undefined ? '?' : median(fs.map((f) => f.deliveriesPerMiB!)).toFixed(0),
      ].join(' | ');
    console.log(`get transport pattern, ${BYTES / MiB} MiB per run, medians of ${ROUNDS}, window ${WINDOW ? `${WINDOW / MiB} MiB` : 'data path'}, load ${load()}`);
    console.log('| calls | plain: client CPU s/GiB | server | MB/s | GC ms/GiB | RSS MiB | pieces/MiB | TLS: client CPU s/GiB | server | MB/s | GC ms/GiB | RSS MiB | pieces/MiB |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const p of patterns) {
      const f = figures.get(p.name)!;
      console.log(`| ${p.name} | ${cell(f.plain)} | ${cell(f.tls)} |`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench-get-pattern: ${(err as Error).message}`);
  process.exit(1);
});
