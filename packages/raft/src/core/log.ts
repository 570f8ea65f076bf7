import type { Entry, SnapshotMeta } from './types.js';

/*
 * The in-memory Raft log: every entry after the last compaction point, plus the
 * marker of where stable storage ends. Invariants:
 *
 *   offset.index <= snapshot.index            (the snapshot covers everything compacted)
 *   applied <= committed <= lastIndex()
 *   stable <= lastIndex()                      (entries after `stable` are not yet on disk)
 *
 *   index:  offset ... snapshot ... applied ... committed ... stable ... last
 *           |<------------ entries (in memory and on disk) ------>|<-unstable->|
 */
export class RaftLog {
  /** entries[0] is a dummy holding (index, term) of the entry just before the first real one. */
  private entries: Entry[];
  snapshot: SnapshotMeta;
  committed: number;
  applied: number;
  /** Index of the last entry known to be on stable storage. */
  stable: number;
  /** A snapshot received from the leader and not yet handed to the application. */
  pendingSnapshot: SnapshotMeta | undefined;

  constructor(snapshot: SnapshotMeta, offset: { index: number; term: number }, entries: readonly Entry[], committed: number, applied: number) {
    this.snapshot = snapshot;
    this.entries = [{ index: offset.index, term: offset.term, type: 0, data: new Uint8Array(0) }, ...entries];
    for (let i = 0; i < this.entries.length; i++) {
      if (this.entries[i].index !== offset.index + i) throw new Error(`log: entry ${i} has index ${this.entries[i].index}, want ${offset.index + i}`);
    }
    this.committed = Math.max(committed, snapshot.index);
    this.applied = Math.max(applied, snapshot.index);
    this.stable = this.lastIndex();
    if (this.committed > this.lastIndex()) throw new Error(`log: committed ${this.committed} beyond last index ${this.lastIndex()}`);
    if (this.applied > this.committed) throw new Error(`log: applied ${this.applied} beyond committed ${this.committed}`);
  }

  /** Index of the first entry still held (everything before lives only in the snapshot). */
  firstIndex(): number {
    return this.entries[0].index + 1;
  }

  lastIndex(): number {
    return this.entries[this.entries.length - 1].index;
  }

  lastTerm(): number {
    return this.entries[this.entries.length - 1].term;
  }

  /** Term of the entry at `index`, or undefined when compacted away or beyond the end. */
  term(index: number): number | undefined {
    const off = this.entries[0].index;
    if (index < off) return index === this.snapshot.index ? this.snapshot.term : undefined;
    if (index > this.lastIndex()) return undefined;
    return this.entries[index - off].term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Entries in [lo, hi), at most maxBytes of data (but always at least one). lo must be >= firstIndex(). */
  slice(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    const off = this.entries[0].index;
    if (lo <= off) throw new Error(`log: slice from ${lo} is compacted (first ${off + 1})`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && i <= this.lastIndex(); i++) {
      const e = this.entries[i - off];
      bytes += e.data.byteLength + 16;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  entry(index: number): Entry | undefined {
    const off = this.entries[0].index;
    if (index <= off || index > this.lastIndex()) return undefined;
    return this.entries[index - off];
  }

  /** Up-to-date check of section 5.4.1: is a log ending at (term, index) at least as new as ours? */
  isUpToDate(index: number, term: number): boolean {
    return term > this.lastTerm() || (term === this.lastTerm() && index >= this.lastIndex());
  }

  /** Appends entries from the leader itself. */
  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index !== this.lastIndex() + 1) throw new Error(`log: append of ${e.index} after ${this.lastIndex()}`);
      this.entries.push(e);
    }
  }

  /**
   * The follower side of AppendEntries (Figure 2, receiver steps 2-4): if the entry at
   * prevIndex has prevTerm, deletes any conflicting suffix and appends what is new.
   * Returns the last index now known to match the leader, or undefined on mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, committed: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    let conflict = 0;
    for (const e of entries) {
      const t = this.term(e.index);
      if (t === undefined && e.index <= this.entries[0].index) continue; // already compacted: committed, so it matches
      if (t !== e.term) {
        conflict = e.index;
        break;
      }
    }
    if (conflict !== 0) {
      if (conflict <= this.committed) throw new Error(`log: conflict at ${conflict} is at or below committed ${this.committed}`);
      this.truncateAndAppend(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  private truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0].index;
    const off = this.entries[0].index;
    this.entries.length = first - off; // drop [first, last]
    if (this.stable >= first) this.stable = first - 1;
    for (const e of entries) this.entries.push(e);
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      if (index > this.lastIndex()) throw new Error(`log: commit ${index} beyond last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /**
   * Fast back-off (etcd findConflictByTerm): the largest index <= `index` whose term is
   * <= `term`. A follower uses it to hint where the leader should probe next.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
      i--;
    }
  }

  /** Entries not yet on stable storage. */
  unstableEntries(): Entry[] {
    if (this.stable >= this.lastIndex()) return [];
    return this.slice(Math.max(this.stable + 1, this.firstIndex()), this.lastIndex() + 1);
  }

  /** Committed entries not yet applied, at most maxBytes. */
  nextCommitted(maxBytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (lo > this.committed) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  /** Replaces the whole log by a snapshot from the leader (section 7, receiver step 7). */
  restore(s: SnapshotMeta): void {
    this.entries = [{ index: s.index, term: s.term, type: 0, data: new Uint8Array(0) }];
    this.snapshot = s;
    this.committed = s.index;
    this.stable = s.index;
    this.pendingSnapshot = s;
  }

  /** Discards entries up to `index` (the application has a snapshot covering them). */
  compact(index: number): void {
    const off = this.entries[0].index;
    if (index <= off) return;
    if (index > this.applied) throw new Error(`log: compact ${index} beyond applied ${this.applied}`);
    const t = this.term(index);
    if (t === undefined) throw new Error(`log: compact ${index}: no such entry`);
    this.entries = [{ index, term: t, type: 0, data: new Uint8Array(0) }, ...this.entries.slice(index - off + 1)];
  }

  /** (index, term) of the dummy entry: what storage records as the start of the log. */
  offset(): { index: number; term: number } {
    return { index: this.entries[0].index, term: this.entries[0].term };
  }
}
