/*
 * What the leader knows about each follower, and the flow control that keeps it from
 * flooding a slow one (etcd tracker/progress.go):
 *
 *                 +--------- append rejected / unreachable ----------+
 *                 v                                                   |
 *   +-------+  append accepted  +-----------+                         |
 *   | probe | ----------------> | replicate |  (pipelined, at most    |
 *   +-------+                   +-----------+   maxInflight messages) |
 *     |   ^                          |                                |
 *     |   +---- snapshot applied ----+--------------------------------+
 *     v   |      or failed
 *   +----------+
 *   | snapshot |  (needed entries were compacted; wait for the transfer)
 *   +----------+
 *
 * Invariant: match < next.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe: one append is outstanding, wait for its answer or the next heartbeat. */
  probeSent = false;
  /** In snapshot: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Last index of each outstanding append, oldest first (replicate state). */
  private readonly inflights: number[] = [];

  constructor(next: number, readonly maxInflight: number) {
    this.next = next;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.reset('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.reset('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = index;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.length = 0;
  }

  /** An append answered "ok up to n". Returns false when it was stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Records that an append ending at `last` was sent; pipelines in replicate state. */
  sentEntries(last: number, count: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = last + 1;
        this.inflights.push(last);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** Frees the window up to `index` (an ack arrived). */
  freeTo(index: number): void {
    while (this.inflights.length > 0 && this.inflights[0] <= index) this.inflights.shift();
  }

  /** Frees one slot: a heartbeat answered, so the oldest message was likely lost. */
  freeFirst(): void {
    this.inflights.shift();
  }

  /**
   * An append was rejected: `rejected` is the prevIndex the leader tried, `hint` where
   * the follower suggests. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** May we send an append now? */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }
}
