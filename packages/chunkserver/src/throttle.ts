import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A byte-rate limiter shared by everyone who calls `take` (token bucket with a small burst).
 * Rate 0 or undefined means unlimited.
 */
export class Throttle {
  private next = 0;

  constructor(
    private readonly bytesPerSec: number | undefined,
    private readonly burstMs = 100,
  ) {}

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    if (!this.bytesPerSec || this.bytesPerSec <= 0) return;
    const now = performance.now();
    this.next = Math.max(this.next, now - this.burstMs) + (bytes * 1000) / this.bytesPerSec;
    const wait = this.next - now;
    if (wait > 1) await sleep(wait, undefined, { signal });
  }
}

/** Resolves after `ms`, or early (without error) when `signal` aborts. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  try {
    await sleep(ms, undefined, { signal });
  } catch {
    // aborted
  }
}

/** A counting semaphore: at most `limit` holders. */
export class Semaphore {
  private held = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  get inUse(): number {
    return this.held;
  }

  async acquire(): Promise<void> {
    if (this.held < this.limit) {
      this.held++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held--;
  }
}
