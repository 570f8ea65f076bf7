import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { DfsClient } from '@dfs/client';
import { DFS_BIN, REPO_ROOT, TestCluster } from '@dfs/testkit';
import { dropCaches } from './lib/ceilings.js';
import { ownCpuSeconds } from './lib/cpu.js';

/*
 * make bench-cli: the `dfs` command against the library it runs, in two parts.
 *
 * 1. Start-up: what a short `dfs` command costs from exec to exit, beside the floor
 * measured in the same run, `node -e 0` (Node's own start; here it includes loading
 * NODE_EXTRA_CA_CERTS when that is set, which `dfs` cannot avoid either).
 *
 * Rows, each the median of BENCH_CLI_RUNS (20) runs taken in alternating rounds, so load
 * from other work bends them alike; wall ms and CPU ms (user + system of the child, from
 * bash's `times`, which load bends less):
 *   node -e 0                         the floor
 *   dfs --version                     node start + the launcher + the bundle, no command module
 *   dfs stat FILE                     the target (issue 17: <= 150 ms)
 *   dfs stat FILE, leader only        the same with DFS_MASTERS naming only the leader: the
 *                                     difference is finding the leader (every master asked)
 *
 * 2. Transfers, like for like: BENCH_CLI_BYTES (256 MiB) between a local file and the cluster
 * (3 masters, 4 chunkservers, 3 replicas, TLS), page cache dropped before each, in
 * BENCH_CLI_ROUNDS (2) alternating rounds, three ways: the library in this long-lived (warm)
 * process, the library in a fresh process (what a one-shot tool is), and `dfs get`/`dfs put`.
 * MB/s and the client's CPU seconds per GiB. `make bench-get` compares `dfs get` with a warm
 * library get into a null sink: that ratio also counts the local file and the warm-up.
 * packages/cli/DESIGN.md explains the phases and the warm-up.
 */

const RUNS = Math.max(3, Number(process.env.BENCH_CLI_RUNS ?? 20));
const BYTES = Number(process.env.BENCH_CLI_BYTES ?? 256 * 1024 ** 2);
const ROUNDS = Math.max(1, Number(process.env.BENCH_CLI_ROUNDS ?? 2));
const MB = 1e6;

interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** One run of `argv` through bash, whose `times` reports the child's CPU; stdout discarded. */
function runOnce(argv: string[], env: NodeJS.ProcessEnv, cwd?: string): Sample {
  const started = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', '"$@" >/dev/null || exit 99; times', 'bench', ...argv], { env, cwd, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  // `times` prints the shell's own user/sys, then its children's: "0m0.270s 0m0.040s".
  const children = r.stdout.trim().split('\n').pop()!;
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`unexpected times output: ${r.stdout}`);
  return { wallMs, cpuMs: (secs[0]! + secs[1]!) * 1000 };
}

/** The library's get or put in a fresh Node process, as a one-shot tool would run it. */
function freshLibrary(op: 'get' | 'put', from: string, to: string, env: NodeJS.ProcessEnv): Sample {
  const code =
    "const { DfsClient, resolveMasters, resolveSecurity } = require('@dfs/client');" +
    "const c = new DfsClient({ masters: resolveMasters().masters, security: resolveSecurity({}).security });" +
    `c.${op}(process.argv[1], process.argv[2]${op === 'put' ? ', { overwrite: true }' : ''}).then(() => { c.close(); process.exit(0); }, (e) => { console.error(e); process.exit(1); });`;
  return runOnce([process.execPath, '-e', code, from, to], env, REPO_ROOT);
}

async function warmLibrary(fn: () => Promise<unknown>): Promise<Sample> {
  const cpu = ownCpuSeconds();
  const started = process.hrtime.bigint();
  await fn();
  return { wallMs: Number(process.hrtime.bigint() - started) / 1e6, cpuMs: (ownCpuSeconds() - cpu) * 1000 };
}

function writeRandomFile(path: string, size: number): void {
  const fd = openSync(path, 'w');
  const block = randomBytes(4 * 1024 * 1024);
  for (let off = 0; off < size; off += block.length) writeSync(fd, block, 0, Math.min(block.length, size - off));
  closeSync(fd);
}

/** get and put three ways (see the header), alternating, caches dropped before each. */
async function transfers(cluster: TestCluster, client: DfsClient, work: string): Promise<void> {
  const env = { ...process.env, ...cluster.env };
  const src = join(work, 'src.bin');
  const got = join(work, 'got.bin');
  writeRandomFile(src, BYTES);
  await client.put(src, '/bench-cli/big.bin');
  const ways: Array<{ name: string; run: () => Promise<Sample> }> = [
    { name: 'get: library, warm process', run: () => warmLibrary(() => client.get('/bench-cli/big.bin', got)) },
    { name: 'get: library, fresh process', run: async () => freshLibrary('get', '/bench-cli/big.bin', got, env) },
    { name: 'get: dfs get', run: async () => runOnce([process.execPath, DFS_BIN, 'get', '-q', '/bench-cli/big.bin', got], env) },
    { name: 'put: library, warm process', run: () => warmLibrary(() => client.put(src, '/bench-cli/put.bin', { overwrite: true })) },
    { name: 'put: library, fresh process', run: async () => freshLibrary('put', src, '/bench-cli/put.bin', env) },
    { name: 'put: dfs put', run: async () => runOnce([process.execPath, DFS_BIN, 'put', '-q', '-f', src, '/bench-cli/put.bin'], env) },
  ];
  const samples = ways.map(() => [] as Sample[]);
  const loadBefore = loadAverage();
  for (let round = 0; round < ROUNDS; round++) {
    // Odd rounds run the ways in reverse, so none always follows the same neighbour.
    const order = round % 2 === 0 ? ways.map((_, i) => i) : ways.map((_, i) => ways.length - 1 - i);
    for (const i of order) {
      dropCaches();
      samples[i]!.push(await ways[i]!.run());
      rmSync(got, { force: true });
    }
  }
  rmSync(src, { force: true });
  console.log(`
${(BYTES / 1024 ** 2).toFixed(0)} MiB between a local file and the cluster (TLS, 3 replicas), ${ROUNDS} alternating rounds, caches dropped (load average ${loadBefore} -> ${loadAverage()})`);
  console.log(`${'way'.padEnd(30)} ${'MB/s'.padStart(7)} ${'client CPU s/GiB'.padStart(17)}   per round (MB/s)`);
  const rate = (s: Sample[]): number => (s.length * BYTES) / MB / (s.reduce((n, x) => n + x.wallMs, 0) / 1000);
  const cpuPerGiB = (s: Sample[]): number => (s.reduce((n, x) => n + x.cpuMs, 0) / 1000 / (s.length * BYTES)) * 1024 ** 3;
  ways.forEach((w, i) => {
    const s = samples[i]!;
    const base = samples[i - (i % 3)]!; // the warm library row of the same operation
    const ratio = i % 3 === 0 ? '' : `   ${(rate(s) / rate(base)).toFixed(2)}x the warm library`;
    console.log(`${w.name.padEnd(30)} ${rate(s).toFixed(1).padStart(7)} ${cpuPerGiB(s).toFixed(2).padStart(17)}   ${s.map((x) => (BYTES / MB / (x.wallMs / 1000)).toFixed(0)).join('/')}${ratio}`);
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'dfs-bench-cli-'));
  const cluster = await TestCluster.start({ dir: join(work, 'cluster'), masters: 3, chunkservers: 4, extraArgs: ['--log-level', 'warn'] });
  const client = cluster.client();
  try {
    await client.put(Readable.from([Buffer.from('hello\n')]), '/bench-cli/file');
    const leader = await client.masters.findLeader();
    if (!leader) throw new Error('no leader');
    const env = { ...process.env, ...cluster.env };
    const cases: Array<{ name: string; argv: string[]; env: NodeJS.ProcessEnv }> = [
      { name: 'ceiling: node -e 0', argv: [process.execPath, '-e', '0'], env },
      { name: 'dfs --version', argv: [process.execPath, DFS_BIN, '--version'], env },
      { name: 'dfs stat (whole process)', argv: [process.execPath, DFS_BIN, 'stat', '/bench-cli/file'], env },
      { name: 'dfs stat, DFS_MASTERS = the leader only', argv: [process.execPath, DFS_BIN, 'stat', '/bench-cli/file'], env: { ...env, DFS_MASTERS: leader } },
    ];
    // The first run of each command writes its code cache (packages/cli/bin/dfs.js).
    for (const c of cases) runOnce(c.argv, c.env);
    const loadBefore = loadAverage();
    const samples = cases.map(() => [] as Sample[]);
    for (let round = 0; round < RUNS; round++) cases.forEach((c, i) => samples[i]!.push(runOnce(c.argv, c.env)));
    const floor = median(samples[0]!.map((s) => s.wallMs));
    const floorCpu = median(samples[0]!.map((s) => s.cpuMs));
    console.log(`\ndfs CLI start-up, median of ${RUNS} alternating runs (load average ${loadBefore} -> ${loadAverage()})`);
    console.log(`${'command'.padEnd(42)} ${'wall ms'.padStart(8)} ${'CPU ms'.padStart(8)}   over node -e 0 (wall / CPU)`);
    cases.forEach((c, i) => {
      const wall = median(samples[i]!.map((s) => s.wallMs));
      const cpu = median(samples[i]!.map((s) => s.cpuMs));
      const over = i === 0 ? '' : `+${(wall - floor).toFixed(0)} / +${(cpu - floorCpu).toFixed(0)} ms`;
      const target = i === 2 ? '   target <= 150 ms wall' : '';
      console.log(`${c.name.padEnd(42)} ${wall.toFixed(0).padStart(8)} ${cpu.toFixed(0).padStart(8)}   ${over}${target}`);
    });
    if (BYTES > 0) await transfers(cluster, client, work);
  } finally {
    client.close();
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
