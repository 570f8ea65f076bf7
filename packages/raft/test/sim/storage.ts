import { createHash } from 'node:crypto';
import type { Entry, HardState, InitialState, SnapshotMeta } from '../../src/index.js';

/*
 * In-memory stable storage for one simulated node: what survives its crashes. Each
 * stored entry also carries a chain hash (hash of its term and data and the previous
 * hash) so the invariant checker can verify the Log Matching property in O(1) per entry.
 */
export function chainHash(prev: string, term: number, data: Uint8Array): string {
  return createHash('md5').update(prev).update(String(term)).update(data).digest('hex').slice(0, 16);
}

export class SimStorage {
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  snapshot: SnapshotMeta;
  /** The state machine image plus the chain hash at the snapshot index. */
  snapshotData: { hash: string; sm: Uint8Array } = { hash: '', sm: new Uint8Array(0) };
  offset = { index: 0, term: 0 };
  offsetHash = '';
  entries: Entry[] = [];
  private hashes: string[] = [];
  /** fsyncs (one per Ready that persisted something). */
  syncs = 0;

  constructor(initial: SnapshotMeta) {
    this.snapshot = initial;
  }

  lastIndex(): number {
    return this.offset.index + this.entries.length;
  }

  hashAt(index: number): string | undefined {
    if (index === this.offset.index) return this.offsetHash;
    if (index === this.snapshot.index) return this.snapshotData.hash;
    const i = index - this.offset.index - 1;
    return i >= 0 && i < this.hashes.length ? this.hashes[i] : undefined;
  }

  termAt(index: number): number | undefined {
    if (index === this.offset.index) return this.offset.term;
    const i = index - this.offset.index - 1;
    return i >= 0 && i < this.entries.length ? this.entries[i].term : undefined;
  }

  /** Appends (overwriting any suffix from entries[0].index); calls `check` with each new (index, term, hash). */
  append(entries: readonly Entry[], check: (index: number, term: number, hash: string) => void): void {
    if (entries.length === 0) return;
    const first = entries[0].index;
    if (first <= this.offset.index) throw new Error(`storage: append at ${first} below offset ${this.offset.index}`);
    if (first > this.lastIndex() + 1) throw new Error(`storage: gap: append at ${first} after ${this.lastIndex()}`);
    const keep = first - this.offset.index - 1;
    this.entries.length = keep;
    this.hashes.length = keep;
    let prev = this.hashAt(first - 1) ?? '';
    for (const e of entries) {
      const h = chainHash(prev, e.term, e.data);
      this.entries.push(e);
      this.hashes.push(h);
      check(e.index, e.term, h);
      prev = h;
    }
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** Installs a snapshot from the leader: the log is replaced (section 7). */
  installSnapshot(meta: SnapshotMeta, data: { hash: string; sm: Uint8Array }): void {
    this.snapshot = meta;
    this.snapshotData = data;
    this.offset = { index: meta.index, term: meta.term };
    this.offsetHash = data.hash;
    this.entries = [];
    this.hashes = [];
  }

  /** Records our own snapshot and drops entries up to `offset`. */
  saveSnapshot(meta: SnapshotMeta, sm: Uint8Array, offset: { index: number; term: number }): void {
    const hash = this.hashAt(meta.index);
    if (hash === undefined) throw new Error(`storage: no hash at snapshot index ${meta.index}`);
    this.snapshot = meta;
    this.snapshotData = { hash, sm };
    if (offset.index > this.offset.index) {
      const drop = offset.index - this.offset.index;
      this.offsetHash = this.hashes[drop - 1];
      this.offset = offset;
      this.entries = this.entries.slice(drop);
      this.hashes = this.hashes.slice(drop);
    }
  }

  initialState(applied: number): InitialState {
    return { hardState: this.hardState, snapshot: this.snapshot, offset: this.offset, entries: this.entries.slice(), applied };
  }
}
