import type { ConfState, Entry, HardState, SnapshotMeta } from '../core/types.js';

/*
 * Stable storage for one Raft node (hashicorp's LogStore + StableStore + snapshot
 * metadata, in one interface because one SQLite transaction covers them all).
 *
 * Durability contract: when `save`'s promise resolves (and when `installSnapshot`,
 * `compact` return), what it wrote is on disk (fsynced). The driver sends no message that
 * depends on a Ready's writes, and applies none of its entries, before that.
 */
export interface StoredState {
  readonly hardState: HardState;
  readonly snapshot: SnapshotMeta;
  /** File name (in the snapshot directory) of the snapshot's data, '' for none. */
  readonly snapshotFile: string;
  readonly offset: { index: number; term: number };
  readonly entries: readonly Entry[];
}

export interface RaftStorage {
  /** Everything stored; `initialConf` is recorded on first use and ignored afterwards. */
  load(initialConf: ConfState): StoredState;
  /**
   * Appends entries (replacing any stored at or after entries[0].index) and sets the hard
   * state, atomically (a later load sees all or none of it), and resolves once that is on
   * disk: one fsync, which does not block the event loop.
   */
  save(hardState: HardState | undefined, entries: readonly Entry[]): Promise<void>;
  /** Records our own snapshot and drops entries up to `offset.index`. */
  compact(snapshot: SnapshotMeta, file: string, offset: { index: number; term: number }): void;
  /** Replaces the log by a snapshot received from the leader. */
  installSnapshot(snapshot: SnapshotMeta, file: string): void;
  close(): void;
}
