import type { Role } from '@dfs/security';

/*
 * Who may call what on a chunkserver, by the role in the caller's certificate. Reads and
 * writes come from clients and, for pipelines and re-replication, from other chunkservers;
 * copy and delete are operator tools (the master gives its orders in heartbeat answers).
 * Which chunk a caller may touch is the chunk access token's business.
 */
export const CHUNK_RPC_ROLES: Readonly<Record<string, readonly Role[]>> = {
  WriteChunk: ['client', 'admin', 'chunkserver'],
  ReadChunk: ['client', 'admin', 'chunkserver'],
  ChunkInfo: ['client', 'admin', 'chunkserver'],
  CopyChunk: ['admin', 'master'],
  DeleteChunk: ['admin', 'master'],
};
