/** Size of one checksum block and of one data frame on the wire (measured fastest for grpc-js). */
export const BLOCK_SIZE = 64 * 1024;
/** Default chunk size (GFS/HDFS use 64 MiB). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
/** Largest gRPC message any dfs server or channel accepts. A data frame is BLOCK_SIZE plus framing. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/** Longest name of one path component, as POSIX NAME_MAX. */
export const MAX_NAME_BYTES = 255;
/** Longest whole path. */
export const MAX_PATH_BYTES = 4096;
