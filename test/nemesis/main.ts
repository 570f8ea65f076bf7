import { randomInt } from 'node:crypto';
import { FAULT_KINDS, runNemesis, type FaultKind, type RunResult } from './run.js';

/*
 * `make nemesis`: long runs.
 *   SEEDS=N MINUTES=M   N runs of M minutes each, seeds drawn at random and printed
 *   SEED=S RUN_SECONDS=T  one run, replaying seed S (the command a failing run prints)
 *   KINDS=a,b           only these fault kinds
 * Exit 1 when any run found an anomaly; its history is saved and a replay command printed.
 */

function env(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('nemesis: needs root (network namespaces and nftables)\n');
    return 2;
  }
  const kinds = env('KINDS')?.split(',') as FaultKind[] | undefined;
  for (const k of kinds ?? []) {
    if (!FAULT_KINDS.includes(k)) {
      process.stderr.write(`nemesis: unknown fault kind ${k} (known: ${FAULT_KINDS.join(' ')})\n`);
      return 2;
    }
  }
  const runs: Array<{ seed: number; seconds: number }> = [];
  if (env('SEED')) runs.push({ seed: Number(env('SEED')), seconds: Number(env('RUN_SECONDS') ?? 60) });
  else {
    const seeds = Number(env('SEEDS') ?? 1);
    const seconds = Math.round(Number(env('MINUTES') ?? 1) * 60);
    for (let i = 0; i < seeds; i++) runs.push({ seed: randomInt(1, 2 ** 31), seconds });
  }
  const results: RunResult[] = [];
  for (const r of runs) {
    const res = await runNemesis({ seed: r.seed, seconds: r.seconds, kinds, saveDir: env('NEMESIS_SAVE_DIR') });
    results.push(res);
    process.stdout.write(summary(res) + '\n');
  }
  const left = results.flatMap((r) => r.namespacesLeft ?? []);
  const ops = results.reduce((a, r) => a + r.ops, 0);
  const faults = results.reduce((a, r) => a + r.faults.length, 0);
  const anomalies = results.reduce((a, r) => a + r.checks.reduce((b, c) => b + c.anomalies.length, 0), 0);
  const inconclusive = results.reduce((a, r) => a + r.checks.reduce((b, c) => b + (c.inconclusive?.length ?? 0), 0), 0);
  const unknown = results.reduce((a, r) => a + r.checks.reduce((b, c) => b + (c.unknown ?? 0), 0), 0);
  process.stdout.write(`nemesis: ${results.length} run(s), ${ops} operations (${unknown} with unknown outcome), ${faults} faults, ${anomalies} anomalies, ${inconclusive} inconclusive checks\n`);
  return anomalies === 0 && left.length === 0 ? 0 : 1;
}

export function summary(r: RunResult): string {
  const lines = [
    `seed ${r.seed}: ${r.ok ? 'OK' : 'ANOMALIES'}; ${r.ops} operations; ${r.faults.length} faults (${Object.entries(r.faultCounts).map(([k, v]) => `${k} ${v}`).join(', ')})`,
    ...r.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.ops} ops${c.unknown !== undefined ? `, ${c.unknown} unknown` : ''}${c.anomalies.length ? `\n    ${c.anomalies.slice(0, 20).join('\n    ')}` : ''}${c.inconclusive?.length ? `\n    inconclusive (search gave up): ${c.inconclusive.join('; ')}` : ''}`),
  ];
  if (!r.ok) lines.push(`  history: ${r.savedTo}`, `  replay:  ${r.replay}`);
  return lines.join('\n');
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`nemesis: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
