/*
 * Safe mode (HDFS FSNamesystem SafeModeInfo): a new leader knows the chunks (from the log)
 * but not yet where their replicas are. Until a threshold fraction of committed chunks has
 * at least one reported replica, or a timeout passes, it makes no re-replication or
 * deletion decision — otherwise every chunk would look missing and trigger a copy storm.
 */
export interface SafeModeOptions {
  /** Fraction of committed chunks that must have a reported replica (HDFS: 0.999). */
  threshold: number;
  /** Leave safe mode after this long regardless. */
  timeoutMs: number;
}

export interface SafeModeStatus {
  active: boolean;
  enteredAtMs: number;
  reportedChunks: number;
  totalChunks: number;
}

export class SafeMode {
  private active = false;
  private enteredAt = 0;
  private total = 0;
  private readonly reported = new Set<number>();

  constructor(private readonly opts: SafeModeOptions) {}

  enter(now: number, totalChunks: number): void {
    this.active = true;
    this.enteredAt = now;
    this.total = totalChunks;
    this.reported.clear();
  }

  /** A replica of a chunk the namespace knows (garbage does not count). */
  noteReplica(handle: number): void {
    if (this.active) this.reported.add(handle);
  }

  /** Re-evaluates; returns true when safe mode was left by this call. */
  update(now: number): boolean {
    if (!this.active) return false;
    const needed = Math.ceil(this.opts.threshold * this.total);
    if (this.reported.size >= needed || now - this.enteredAt >= this.opts.timeoutMs) {
      this.active = false;
      this.reported.clear();
      return true;
    }
    return false;
  }

  isActive(): boolean {
    return this.active;
  }

  status(): SafeModeStatus {
    return { active: this.active, enteredAtMs: this.enteredAt, reportedChunks: this.reported.size, totalChunks: this.total };
  }
}
