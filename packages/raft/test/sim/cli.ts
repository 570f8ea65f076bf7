import { runKvScenario } from '../lin/kv-scenario.js';

/*
 * npm run sim -w @dfs/raft -- --seeds N --from S
 *
 * Runs N randomized simulations (seeds S .. S+N-1): a key-value service on 3 or 5
 * nodes, concurrent clients, a nemesis of partitions, crashes, restarts and a lossy
 * network; every Raft invariant is checked after every event and the history is checked
 * for linearizability. Prints each failure with its replay command, then
 * "N passed, M failed". Exit status 1 when anything failed.
 */
function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${name} needs a non-negative integer\n`);
    process.exit(2);
  }
  return n;
}

const seeds = arg('seeds', 100);
const from = arg('from', 1);
const verbose = process.argv.includes('--verbose');
let passed = 0;
let failed = 0;
const t0 = Date.now();
for (let seed = from; seed < from + seeds; seed++) {
  const replay = `npm run sim -w @dfs/raft -- --seeds 1 --from ${seed} --verbose`;
  try {
    const r = runKvScenario({ seed, servers: seed % 2 === 0 ? 3 : 5, durationMs: 10_000 });
    if (r.ok) {
      passed++;
      if (verbose) process.stdout.write(`seed ${seed}: ok, ${r.ops} operations, ${r.events} events, ${r.faults.length} faults\n`);
    } else {
      failed++;
      process.stdout.write(`FAIL seed ${seed}: history of ${r.ops} operations is not linearizable (key ${r.badKey})\n  replay: ${replay}\n`);
      if (verbose) process.stdout.write(`  faults:\n    ${r.faults.join('\n    ')}\n`);
    }
  } catch (err) {
    failed++;
    const msg = err instanceof Error ? (verbose ? err.stack ?? err.message : err.message.split('\n')[0]) : String(err);
    process.stdout.write(`FAIL seed ${seed}: ${msg}\n  replay: ${replay}\n`);
  }
}
if (verbose) process.stdout.write(`(${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
