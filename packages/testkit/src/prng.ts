/** A small seeded PRNG (mulberry32): the same seed gives the same run, everywhere. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** Uniform in [0, 1); a bound function, so `prng.next` can stand where a `() => number` is wanted. */
  readonly next = (): number => {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** An independent stream derived from this one. */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 4294967296));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  /** `n` bytes of test data, the same for the same seed. */
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(Math.floor(this.next() * 4294967296), i);
    for (; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** `n` bytes of test data from seed `seed`: the same bytes every run. */
export function seededBytes(n: number, seed = 1): Buffer {
  return new Prng(seed).bytes(n);
}
