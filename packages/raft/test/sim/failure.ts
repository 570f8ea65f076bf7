/*
 * Every simulation failure names its seed and the one-line command that replays it.
 */
export class SimFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimFailure';
  }
}

/** The seed a named test runs with: $SEED when set, else `fallback`. */
export function seedFrom(fallback: number): number {
  const env = process.env.SEED;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (Number.isInteger(n)) return n;
  }
  return fallback;
}

export function replayCommand(seed: number, grep: string): string {
  const g = grep.replace(/'/g, "'\\''");
  return `SEED=${seed} node_modules/.bin/mocha 'packages/raft/dist/test/**/*.test.js' -g '${g}'`;
}

/** Adds the seed and replay line to whatever `fn` throws. */
export function withSeed<T>(seed: number, grep: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    e.message = `${e.message}\n      seed: ${seed}\n      replay: ${replayCommand(seed, grep)}`;
    throw e;
  }
}
