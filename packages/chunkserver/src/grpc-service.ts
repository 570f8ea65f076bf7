import type {
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  sendUnaryData,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {
  DfsError,
  ErrorCode,
  toServiceError,
  type ChunkInfoRequest,
  type ChunkInfoResponse,
  type CopyChunkRequest,
  type CopyChunkResponse,
  type DeleteChunkRequest,
  type DeleteChunkResponse,
  type ReadChunkRequest,
  type WriteChunkResponse,
} from '@dfs/proto';
import { requireRole } from '@dfs/security';
import { CHUNK_RPC_ROLES } from './access.js';
import { checkHandle } from './chunk-id.js';
import { handleReadChunk, type ReadContext } from './read-path.js';
import type { Replicator } from './replicator.js';
import type { RawWriteRequest } from './wire.js';
import { handleWriteChunk, type WriteContext } from './write-pipeline.js';

/** What the ChunkService handlers work on; `startChunkserver` builds it once. */
export interface ChunkServiceContext {
  write: WriteContext;
  read: ReadContext;
  replicator: Replicator;
}

export interface ChunkServiceHandlers extends UntypedServiceImplementation {
  writeChunk: handleClientStreamingCall<RawWriteRequest, WriteChunkResponse>;
  readChunk: handleServerStreamingCall<ReadChunkRequest, Buffer>;
  copyChunk: handleUnaryCall<CopyChunkRequest, CopyChunkResponse>;
  deleteChunk: handleUnaryCall<DeleteChunkRequest, DeleteChunkResponse>;
  chunkInfo: handleUnaryCall<ChunkInfoRequest, ChunkInfoResponse>;
}

/** The ChunkService: thin shells over the write pipeline, the read path, the replicator and the store. */
export function chunkServiceHandlers(ctx: ChunkServiceContext): ChunkServiceHandlers {
  const { store, log } = ctx.write;
  return {
    writeChunk: (call, callback) => {
      try {
        requireRole(call, 'WriteChunk', CHUNK_RPC_ROLES.WriteChunk!);
      } catch (err) {
        callback(toServiceError(err), null);
        return;
      }
      void handleWriteChunk(ctx.write, call, callback);
    },
    readChunk: (call) => {
      try {
        requireRole(call, 'ReadChunk', CHUNK_RPC_ROLES.ReadChunk!);
      } catch (err) {
        call.emit('error', toServiceError(err));
        return;
      }
      void handleReadChunk(ctx.read, call);
    },
    copyChunk: (call, callback) =>
      unary(callback, async () => {
        requireRole(call, 'CopyChunk', CHUNK_RPC_ROLES.CopyChunk!);
        return ctx.replicator.copy({ handle: call.request.handle, version: call.request.version, source: call.request.source });
      }),
    deleteChunk: (call, callback) =>
      unary(callback, async () => {
        requireRole(call, 'DeleteChunk', CHUNK_RPC_ROLES.DeleteChunk!);
        const handle = checkHandle(call.request.handle);
        if (!(await store.delete(handle))) throw new DfsError(ErrorCode.UNKNOWN_CHUNK, `chunk ${handle} is not stored on this chunkserver`);
        log.info({ handle }, 'replica deleted');
        return {};
      }),
    chunkInfo: (call, callback) =>
      unary(callback, async () => {
        requireRole(call, 'ChunkInfo', CHUNK_RPC_ROLES.ChunkInfo!);
        const handle = checkHandle(call.request.handle);
        const r = store.get(handle);
        if (!r) throw new DfsError(ErrorCode.UNKNOWN_CHUNK, `chunk ${handle} is not stored on this chunkserver`);
        return { handle, version: r.version, length: r.length, crc32c: r.crc32c };
      }),
  };
}

/** Answers with `fn`'s value, or with its error as a dfs status. */
function unary<T>(callback: sendUnaryData<T>, fn: () => Promise<T>): void {
  fn().then(
    (v) => callback(null, v),
    (err: unknown) => callback(toServiceError(err)),
  );
}
