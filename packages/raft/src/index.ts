// @dfs/raft: a pure Raft core (etcd style), SQLite storage, gRPC transport and a driver.
export { RawNode, type Ready } from './core/rawnode.js';
export { Raft, RaftError, type RaftErrorCode, type RaftOptions, type InitialState } from './core/raft.js';
export {
  EntryType,
  MessageType,
  type Entry,
  type HardState,
  type Member,
  type ConfState,
  type ConfChange,
  type ConfChangeType,
  type SnapshotMeta,
  type Message,
  type Role,
  type SoftState,
  type ReadState,
} from './core/types.js';
