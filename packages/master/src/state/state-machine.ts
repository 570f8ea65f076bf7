/**
 * The replicated state machine contract. A local, identical copy of the interface
 * `@dfs/raft` exports (hashicorp/raft's FSM): kept here until the Raft package settles, so
 * the master does not depend on code in flux. The Raft driver calls these; nothing else does.
 *
 * Invariants:
 *  - `apply` is deterministic: its effect and result depend only on the database and `data`.
 *  - `apply(i)` for i <= appliedIndex() is a no-op (a restarted node may be handed entries again).
 *  - appliedIndex() is durable together with the effects of that entry (one SQLite transaction).
 */
export interface StateMachine {
  apply(index: number, data: Uint8Array): unknown;
  appliedIndex(): number;
  /** Writes a consistent copy of the state (VACUUM INTO) to `path`; returns the index it reflects. */
  snapshot(path: string): Promise<{ index: number }>;
  /** Replaces the state with the snapshot at `path`, taken at `index`. */
  restore(path: string, index: number): Promise<void>;
}
