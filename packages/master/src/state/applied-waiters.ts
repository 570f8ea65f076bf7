/**
 * Readers waiting for the applied index to reach an index (a follower read that must see the
 * caller's last write): woken by the apply that reaches it, not by polling.
 */
export class AppliedWaiters {
  private waiters: Array<{ index: number; wake: (reached: boolean) => void }> = [];

  /** True once `applied()` reaches `index`, false if `waitMs` passes first. */
  wait(index: number, waitMs: number, applied: () => number): Promise<boolean> {
    if (applied() >= index) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        index,
        wake: (reached: boolean) => {
          clearTimeout(timer);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, waitMs);
      this.waiters.push(waiter);
    });
  }

  /** The applied index moved to `applied`: wakes every waiter it satisfies. */
  advanced(applied: number): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.index <= applied) w.wake(true);
      else still.push(w);
    }
    this.waiters = still;
  }
}
