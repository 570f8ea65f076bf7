/*
 * The one table of limits. Every bound a dfs process enforces on what a caller sends, and
 * every size two processes must agree on, is defined here and nowhere else.
 */

/** Size of one checksum block and of one data frame on the wire (measured fastest for grpc-js). */
export const BLOCK_SIZE = 64 * 1024;
/** Default chunk size (GFS/HDFS use 64 MiB). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
/** Largest chunk size a file may ask for; masters and chunkservers refuse anything larger. */
export const MAX_CHUNK_SIZE = 4 * 1024 * 1024 * 1024;
/** Largest gRPC message any dfs server or channel accepts. A data frame is BLOCK_SIZE plus framing. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Most concurrent calls (HTTP/2 streams) one connection may have open on a dfs server. */
export const MAX_CONCURRENT_STREAMS = 1024;
/**
 * Largest file kept inline: its bytes live in the metadata (one Raft entry, the master's
 * database), not on chunkservers, as Ceph and ext4 inline data (packages/master/DESIGN.md).
 */
export const MAX_INLINE_BYTES = 4096;
/** Longest name of one path component, as POSIX NAME_MAX. */
export const MAX_NAME_BYTES = 255;
/** Longest whole path. */
export const MAX_PATH_BYTES = 4096;
/** Longest node id (master or chunkserver), rack name or member id. */
export const MAX_NODE_ID_BYTES = 64;
/** Longest client id (a writer lease holder: host name, pid, random suffix). */
export const MAX_CLIENT_ID_BYTES = 128;
/** Longest request id or operation id (a UUID is 36). */
export const MAX_REQUEST_ID_BYTES = 128;
/** Longest free-text reason (a bad-replica report). */
export const MAX_REASON_BYTES = 1024;
/** Longest host:port address (a DNS name is at most 253 bytes). */
export const MAX_ADDRESS_BYTES = 270;
/** Longest error message sent back (it may quote the caller's input; trailers are small). */
export const MAX_ERROR_MESSAGE_BYTES = 1024;
/** Longest string of any other field a caller sends. */
export const MAX_STRING_BYTES = 4096;
/** Highest replication factor a file may ask for (checked in apply: never lower it, old log entries replay). */
export const MAX_REPLICATION = 32;
/** Most replicas downstream of the primary in one write chain. */
export const MAX_CHAIN_LENGTH = MAX_REPLICATION - 1;
/** Most chunkservers a client may exclude in one AddChunk. */
export const MAX_EXCLUDED_CHUNKSERVERS = 64;
/** Most entries of any other list in one request (a chunk report is bounded by the message size). */
export const MAX_LIST_ITEMS = 1_000_000;
/** Largest snapshot a master accepts from a peer. */
export const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024 * 1024;
/** Most Raft messages in one batch, and most entries in one message. */
export const MAX_RAFT_BATCH_MESSAGES = 4096;
