// @dfs/raft: a pure Raft core (etcd style), SQLite storage, gRPC transport and a driver.
// The master codes against RaftNode and StateMachine; the rest is for tests and tools.
export { RaftNode, type RaftNodeOptions, type NodeStatus, type NodeRole } from './driver/node.js';
export { type Logger } from './logger.js';
export { type StateMachine } from './driver/state-machine.js';
export { RawNode, isEarlySendable, type Ready } from './core/rawnode.js';
export { LeaderLease, leaseDurationMs, type LeaseBound } from './core/lease.js';
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
export { SqliteStorage } from './storage/sqlite.js';
export { WalCheckpointer, type WalCheckpointerOptions } from './storage/wal-checkpointer.js';
export { type RaftStorage, type StoredState } from './storage/storage.js';
export { GrpcTransport, SNAPSHOT_PIECE, type GrpcTransportOptions } from './transport/grpc.js';
export { type Transport, type TransportHandler } from './transport/transport.js';
