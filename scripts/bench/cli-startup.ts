import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DFS_BIN, TestCluster } from '@dfs/testkit';

/*
 * make bench-cli: what a short `dfs` command costs from exec to exit, beside the floor
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
 * packages/cli/DESIGN.md explains the phases.
 */

const RUNS = Math.max(3, Number(process.env.BENCH_CLI_RUNS ?? 20));

interface Sample {
  wallMs: number;
  cpuMs: number;
}

/** One run of `argv` through bash, whose `times` reports the child's CPU; stdout discarded. */
function runOnce(argv: string[], env: NodeJS.ProcessEnv): Sample {
  const started = process.hrtime.bigint();
  const r = spawnSync('bash', ['-c', '"$@" >/dev/null || exit 99; times', 'bench', ...argv], { env, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  // `times` prints the shell's own user/sys, then its children's: "0m0.270s 0m0.040s".
  const children = r.stdout.trim().split('\n').pop()!;
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`unexpected times output: ${r.stdout}`);
  return { wallMs, cpuMs: (secs[0]! + secs[1]!) * 1000 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'dfs-bench-cli-'));
  const cluster = await TestCluster.start({ dir: join(work, 'cluster'), masters: 3, chunkservers: 1, extraArgs: ['--log-level', 'warn'] });
  try {
    const client = cluster.client();
    await client.put(Readable.from([Buffer.from('hello\n')]), '/bench-cli/file');
    const leader = await client.masters.findLeader();
    client.close();
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
  } finally {
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
