/*
 * Leader lease (thesis 6.4.1): reads served by the leader without a ReadIndex round.
 *
 * A follower that answered a heartbeat ignores campaigns for `electionTicks` of its own
 * ticks (leader stickiness, checkQuorum) and, with leaseReads on, for `electionTicks` after
 * it starts. Every election needs a vote from a quorum, and every quorum holds a follower
 * that answered. So if a quorum answered a heartbeat round the leader sent at time `t`, no
 * other leader can exist before t + (electionTicks - 1) ticks of those followers' clocks:
 * the first tick after the reset may come at once, so one tick is not counted.
 *
 * The clock-drift bound: follower tick clocks may run up to `maxDrift` faster than the
 * leader's monotonic clock (default 10%, far above crystal drift of 1e-4, so it also covers
 * a timer that fires a little early), and one more tick is taken off for timer slop:
 *
 *   lease = (electionTicks - 2) * tickMs / (1 + maxDrift)        (10, 100 ms, 0.1: 727 ms)
 *
 * The lease counts from when the round was *sent* (its read was asked), never from when
 * the answers arrived. A stalled leader is safe: the time it was stalled counts against it.
 */
export interface LeaseBound {
  readonly electionTicks: number;
  readonly tickMs: number;
  /** How much faster than the leader's clock a follower's ticks may run (0.1 = 10%). */
  readonly maxDrift: number;
}

export function leaseDurationMs(b: LeaseBound): number {
  return Math.max(0, ((b.electionTicks - 2) * b.tickMs) / (1 + b.maxDrift));
}

/** The leader's lease, in the caller's monotonic milliseconds. */
export class LeaderLease {
  private term = -1;
  private until = 0;

  constructor(readonly durationMs: number) {}

  /** A quorum answered a round sent at `sentAt` in `term`. */
  confirm(sentAt: number, term: number): void {
    if (term !== this.term) {
      this.term = term;
      this.until = 0;
    }
    this.until = Math.max(this.until, sentAt + this.durationMs);
  }

  /** Leadership changed or a transfer began: the lease is gone. */
  revoke(): void {
    this.term = -1;
    this.until = 0;
  }

  valid(now: number, term: number): boolean {
    return term === this.term && now < this.until;
  }

  /** Milliseconds left (0 when invalid). */
  remaining(now: number, term: number): number {
    return this.valid(now, term) ? this.until - now : 0;
  }
}
