/*
 * The application's replicated state machine (hashicorp's FSM). apply must be
 * deterministic: no clock, randomness or I/O outside its own database.
 */
export interface StateMachine {
  /** Applies the committed entry at `index`; deterministic; must persist `index` as applied in the same transaction. Returns a result handed back to the proposer (any JSON-able value, or an Error-like value for a deterministic failure). */
  apply(index: number, data: Uint8Array): unknown;
  /**
   * Optional: applies several consecutive committed entries in one transaction (one
   * write instead of one per entry), persisting the last index as applied; returns one
   * result per entry. Must equal calling apply() on each in order. The driver uses it
   * when present: with many small commands it is most of the throughput.
   */
  applyBatch?(entries: ReadonlyArray<{ index: number; data: Uint8Array }>): unknown[];
  /** Last applied index as persisted (so restart does not re-apply). */
  appliedIndex(): number;
  /** Writes a consistent snapshot of the state to `path` (e.g. SQLite VACUUM INTO) and returns the index it covers. */
  snapshot(path: string): Promise<{ index: number }>;
  /** Replaces the state with the snapshot file at `path` (covering `index`). */
  restore(path: string, index: number): Promise<void>;
}
