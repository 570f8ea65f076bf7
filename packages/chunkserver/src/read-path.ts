import type { FileHandle } from 'node:fs/promises';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Logger } from '@dfs/telemetry';
import { BLOCK_SIZE, DfsError, ErrorCode, MAX_FRAME_PIECES, READ_HEADROOM, checkBounds, crc32cOf, encodeReadBlocks, preframe, toDfsError, type ReadChunkRequest } from '@dfs/proto';
import { checkHandle } from './chunk-id.js';
import type { ChunkRecord, ChunkStore } from './chunk-store.js';
import { checkReadVersion, type TokenGate } from './token-gate.js';

/**
 * Blocks per disk read and per ReadChunk message (1 MiB: per-message costs paid once per MiB),
 * and batches read ahead of the one being sent (overlaps disk and network).
 */
const BATCH = MAX_FRAME_PIECES;
const READ_AHEAD = 2;

export interface VerifiedBlocks {
  /** Offset of the first block within the chunk (block aligned). */
  offset: number;
  /** [headroom spare bytes][len data bytes: consecutive blocks] */
  buf: Buffer;
  len: number;
  /** Stored CRC32C of each block, in order. */
  crcs: number[];
}

/**
 * Reads blocks [first, end) of a replica in batches of up to BATCH consecutive blocks and
 * verifies each block against its stored CRC32C before yielding the batch. A mismatch (or a
 * short file) quarantines the replica — which reports it to the master — and throws
 * CHECKSUM_MISMATCH: a corrupt block is never handed out.
 */
export async function* readVerifiedBlocks(
  store: ChunkStore,
  record: ChunkRecord,
  fh: FileHandle,
  firstBlock: number,
  endBlock: number,
  headroom: number,
): AsyncGenerator<VerifiedBlocks> {
  const fi = store.faultInjector;
  // Each batch is one positional read (one thread-pool round trip per MiB) into one buffer with
  // headroom in front, so the message sent is that buffer; READ_AHEAD batches in flight.
  type Batch = Promise<{ buf: Buffer; len: number; bytesRead: number } | Error>;
  const inflight: Batch[] = [];
  let nextToRead = firstBlock;
  const issue = (): void => {
    const position = nextToRead * BLOCK_SIZE;
    const stop = Math.min(endBlock, nextToRead + BATCH);
    const len = Math.min(stop * BLOCK_SIZE, record.length) - position;
    nextToRead = stop;
    const buf = Buffer.allocUnsafe(headroom + len);
    inflight.push(
      fh.read(buf, headroom, len, position).then(
        (r) => ({ buf, len, bytesRead: r.bytesRead }),
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
    );
  };
  try {
    let block = firstBlock;
    while (block < endBlock) {
      while (nextToRead < endBlock && inflight.length < READ_AHEAD) issue();
      const r = await inflight.shift()!;
      if (r instanceof Error) throw toDfsError(r);
      const first = block * BLOCK_SIZE;
      if (r.bytesRead < r.len) {
        const short = Math.floor(r.bytesRead / BLOCK_SIZE) * BLOCK_SIZE + first;
        throw await corrupt(store, record, `block at offset ${short}: data file ends early (${Math.max(0, first + r.bytesRead - short)} of ${Math.min(BLOCK_SIZE, record.length - short)} bytes)`);
      }
      const crcs: number[] = [];
      for (let at = 0; at < r.len; at += BLOCK_SIZE, block++) {
        const offset = first + at;
        const data = r.buf.subarray(headroom + at, headroom + Math.min(r.len, at + BLOCK_SIZE));
        if (fi.corruptReadBlock) fi.corruptReadBlock(record.handle, offset, data);
        const expected = record.blockCrcs[block]! >>> 0;
        const actual = crc32cOf(data);
        if (actual !== expected) {
          throw await corrupt(store, record, `block at offset ${offset}: checksum ${actual} does not match stored ${expected}`);
        }
        crcs.push(expected);
      }
      yield { offset: first, buf: r.buf, len: r.len, crcs };
    }
  } finally {
    await Promise.all(inflight.splice(0));
  }
}

async function corrupt(store: ChunkStore, record: ChunkRecord, reason: string): Promise<DfsError> {
  await store.quarantine(record, reason);
  return new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${record.handle} is corrupt on this chunkserver: ${reason}`);
}

export interface ReadContext {
  store: ChunkStore;
  log: Logger;
  /** A reader that accepts nothing for this long is dropped. */
  stallTimeoutMs: number;
  /** Chunk access tokens: a read (or a copy's) token for this chunk and node. */
  tokens: TokenGate;
}

/** gRPC handler body of ReadChunk. Never throws: failures end the call with a typed status. */
export async function handleReadChunk(ctx: ReadContext, call: ServerWritableStream<ReadChunkRequest, Buffer>): Promise<void> {
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
  });
  try {
    const req = call.request;
    checkBounds(req, 'ReadChunk');
    const handle = checkHandle(req.handle);
    for (const [name, v] of [['version', req.version], ['offset', req.offset], ['length', req.length]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `invalid ${name} ${String(v)}`);
    }
    const claims = await ctx.tokens.check(call.metadata, handle, ['read', 'copy']);
    const { record, fh } = await ctx.store.openForRead(handle);
    try {
      checkReadVersion(claims, record);
      if (req.version > record.version) {
        throw new DfsError(ErrorCode.STALE_VERSION, `chunk ${handle}: this replica has version ${record.version}, the reader wants ${req.version}`);
      }
      if (req.offset > record.length) {
        throw new DfsError(ErrorCode.INVALID_ARGUMENT, `chunk ${handle}: offset ${req.offset} is past its length ${record.length}`);
      }
      const end = req.length === 0 ? record.length : Math.min(record.length, req.offset + req.length);
      const first = Math.floor(req.offset / BLOCK_SIZE);
      const last = Math.ceil(end / BLOCK_SIZE);
      for await (const b of readVerifiedBlocks(ctx.store, record, fh, first, last, READ_HEADROOM)) {
        if (cancelled) break;
        // The message is the disk buffer; its gRPC prefix goes in the headroom too (preframe).
        if (!call.write(preframe(encodeReadBlocks(b.buf, b.len, b.offset, b.crcs)))) await drained(call, ctx.stallTimeoutMs, () => cancelled);
        if (cancelled) break;
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
    if (!cancelled) call.end();
  } catch (err) {
    if (cancelled) return;
    const d = toDfsError(err);
    if (d.code !== ErrorCode.UNKNOWN_CHUNK && d.code !== ErrorCode.STALE_VERSION) {
      ctx.log.warn({ handle: call.request?.handle, code: d.codeName, err: d.message }, 'chunk read failed');
    }
    call.emit('error', d.toServiceError());
  }
}

function drained(call: ServerWritableStream<ReadChunkRequest, Buffer>, timeoutMs: number, isCancelled: () => boolean): Promise<void> {
  if (isCancelled()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    const timer = setTimeout(() => {
      call.off('drain', done);
      call.off('cancelled', done);
      reject(new DfsError(ErrorCode.DEADLINE_EXCEEDED, `reader accepted no data for ${timeoutMs}ms`));
    }, timeoutMs);
    call.once('drain', done);
    call.once('cancelled', done);
  });
}
