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
  checkAddress,
  checkBounds,
  checkNodeId,
  toServiceError,
  type RawWriteRequest,
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
import { handleWriteChunk, type WriteContext } from './write-pipeline.js';
import { checkReadVersion, type TokenGate } from './token-gate.js';

/** What the ChunkService handlers work on; `startChunkserver` builds it once. */
export interface ChunkServiceContext {
  write: WriteContext;
  read: ReadContext;
  replicator: Replicator;
  tokens: TokenGate;
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
        checkBounds(call.request, 'CopyChunk');
        const { handle: rawHandle, version, source } = call.request;
        const handle = checkHandle(rawHandle);
        checkNodeId(source?.id, `copy of chunk ${handle}: source id`);
        checkAddress(source!.address, `copy of chunk ${handle}: source address`);
        // A copy token names this node and the source; the source checks it again.
        const claims = await ctx.tokens.check(call.metadata, handle, ['copy']);
        if (!claims.nodes.includes(source!.id)) throw new DfsError(ErrorCode.PERMISSION_DENIED, `copy of chunk ${handle}: the token does not name source ${source!.id}`);
        return ctx.replicator.copy({ handle, version, source, token: claims.token });
      }),
    deleteChunk: (call, callback) =>
      unary(callback, async () => {
        requireRole(call, 'DeleteChunk', CHUNK_RPC_ROLES.DeleteChunk!);
        checkBounds(call.request, 'DeleteChunk');
        const handle = checkHandle(call.request.handle);
        const claims = await ctx.tokens.check(call.metadata, handle, ['delete']);
        const have = store.get(handle);
        if (have && have.version > claims.version) {
          throw new DfsError(ErrorCode.STALE_VERSION, `chunk ${handle}: stale delete token for version ${claims.version}; this replica holds ${have.version}`);
        }
        if (!(await store.delete(handle))) throw new DfsError(ErrorCode.UNKNOWN_CHUNK, `chunk ${handle} is not stored on this chunkserver`);
        log.info({ handle }, 'replica deleted');
        return {};
      }),
    chunkInfo: (call, callback) =>
      unary(callback, async () => {
        requireRole(call, 'ChunkInfo', CHUNK_RPC_ROLES.ChunkInfo!);
        checkBounds(call.request, 'ChunkInfo');
        const handle = checkHandle(call.request.handle);
        const claims = await ctx.tokens.check(call.metadata, handle, ['read', 'copy']);
        const r = store.get(handle);
        if (!r) throw new DfsError(ErrorCode.UNKNOWN_CHUNK, `chunk ${handle} is not stored on this chunkserver`);
        checkReadVersion(claims, r);
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
