import { seedFrom, withSeed } from './failure.js';

/*
 * `simIt` declares a simulation test that runs once per seed of a fixed list (so
 * `make test` is deterministic). SEED=<n> runs just that seed; SIM_SEEDS=a,b,c
 * replaces the list. A failure prints the seed and the command that replays it.
 */
const DEFAULT_SEEDS = [1, 2];

export function seedList(): number[] {
  if (process.env.SEED) return [seedFrom(1)];
  if (process.env.SIM_SEEDS) return process.env.SIM_SEEDS.split(',').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n));
  return DEFAULT_SEEDS;
}

export function simIt(title: string, fn: (seed: number) => void, seeds: number[] = seedList()): void {
  for (const seed of seeds) {
    // Virtual time makes these fast, but a loaded machine should not fail them.
    it(`${title} [seed ${seed}]`, function () {
      withSeed(seed, title, () => fn(seed));
    }).timeout(120_000);
  }
}
