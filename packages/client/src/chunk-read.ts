import {
  BLOCK_SIZE,
  chunkMetadata,
  crc32cCombine,
  crc32cOf,
  DfsError,
  ErrorCode,
  framePieces,
  toDfsError,
  type ChunkLocation,
  type ChunkserverRef,
  type ReadChunkResponse,
} from '@dfs/proto';
import { decodeChunkToken } from '@dfs/security';
import { delay, type ChunkserverPool } from './rpc.js';
import type { ReadPolicy } from './read-policy.js';

export interface RangeReadContext {
  pool: ChunkserverPool;
  policy: ReadPolicy;
  requestId?: string;
  signal?: AbortSignal;
  /** Called for a replica that served bytes failing their checksum. */
  onCorruptReplica?: (handle: number, replica: ChunkserverRef, reason: string) => void;
  timeoutMs: number;
  /**
   * Asks the master again for the chunk's token and replicas: updates `chunk` in place, so every
   * later piece of a long read uses the fresh ones. An answer up to `maxAgeMs` old (default 1 s)
   * may serve several pieces.
   */
  refresh?: (chunk: ChunkLocation, opts?: { maxAgeMs?: number }) => Promise<void>;
  /** How long to keep asking the master where a chunk is while no replica serves it (0: no retry). */
  relocateWindowMs?: number;
}

/** A token this close to its expiry is refreshed before use rather than refused mid-read. */
const TOKEN_MARGIN_MS = 2_000;

/** When the chunk's token expires (ms), or undefined without a readable token. */
export function tokenExpiry(chunk: ChunkLocation): number | undefined {
  if (!chunk.token) return undefined;
  try {
    return decodeChunkToken(chunk.token).claims.expiresMs;
  } catch {
    return undefined;
  }
}

/**
 * The replicas the chunk's token names: a client dials only those (a location whose token
 * names other nodes is not to be trusted with bytes). No token: the list as given.
 */
export function tokenReplicas(chunk: ChunkLocation): ChunkserverRef[] {
  if (!chunk.token) return chunk.replicas;
  try {
    const nodes = new Set(decodeChunkToken(chunk.token).claims.nodes);
    return chunk.replicas.filter((r) => nodes.has(r.id));
  } catch {
    return chunk.replicas;
  }
}

/** Whether the master recorded the chunk's whole CRC32C (0 = not recorded; an empty chunk has nothing to check). */
export function hasRecordedCrc(chunk: ChunkLocation): boolean {
  return chunk.length > 0 && chunk.crc32c !== 0;
}

/** Bytes of a chunk range as they arrived (views, no concatenation) and the CRC32C of all of them. */
export interface RangeBytes {
  bufs: Buffer[];
  /** CRC32C of concat(bufs), folded from the verified block CRC32Cs (no second pass over the bytes). */
  crc: number;
}

/**
 * Reads [start, end) of one chunk from one replica, verifying every block's CRC32C
 * against the checksum the replica stored at write time (end-to-end: computed by the writer).
 */
async function readFromReplica(
  ctx: RangeReadContext,
  chunk: ChunkLocation,
  replica: ChunkserverRef,
  start: number,
  end: number,
): Promise<RangeBytes> {
  const alignedStart = start - (start % BLOCK_SIZE);
  const call = ctx.pool.get(replica.address).readChunk(
    { handle: chunk.handle, version: chunk.version, offset: alignedStart, length: end - alignedStart, requestId: ctx.requestId ?? '' },
    chunkMetadata(ctx.requestId, chunk.token),
    { deadline: Date.now() + ctx.timeoutMs },
  );
  const onAbort = (): void => call.cancel();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const pieces: Buffer[] = [];
  let expected = alignedStart;
  // A whole-chunk read is also checked against the CRC32C the master recorded at commit
  // (0 = not recorded), not only each block against the replica's own: a replica that holds
  // other bytes with matching block checksums (a stale or rewritten copy) is caught too.
  const whole = start === 0 && end === chunk.length && hasRecordedCrc(chunk);
  // CRC32C of the bytes handed on: a whole block's is its verified CRC32C, folded in by
  // crc32cCombine; only a block cut by the range's edges is summed again over its used part.
  let rangeCrc = 0;
  try {
    for await (const msg of call as AsyncIterable<ReadChunkResponse>) {
      if (msg.offset !== expected) {
        throw new DfsError(ErrorCode.INTERNAL, `chunk ${chunk.handle} from ${replica.id}: block at ${msg.offset}, expected ${expected}`);
      }
      const data = msg.data;
      let blocks: ReturnType<typeof framePieces>;
      try {
        blocks = framePieces(data, msg.crc32c, msg.blockCrc32cs);
      } catch (err) {
        throw new DfsError(ErrorCode.INTERNAL, `chunk ${chunk.handle} from ${replica.id}: ${(err as Error).message}`);
      }
      for (let i = 0; i < blocks.length; i++) {
        const block = blocks[i]!;
        const crc = block.crc >>> 0;
        const blockAt = msg.offset + i * BLOCK_SIZE;
        if (crc32cOf(block.data) !== crc) {
          const reason = `checksum mismatch in block at ${blockAt}`;
          ctx.onCorruptReplica?.(chunk.handle, replica, reason);
          throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${chunk.handle} on ${replica.id}: ${reason}`);
        }
        const from = Math.max(0, start - blockAt);
        const to = Math.min(block.data.length, end - blockAt);
        if (to <= from) continue;
        rangeCrc = from === 0 && to === block.data.length ? crc32cCombine(rangeCrc, crc, to) : crc32cOf(block.data.subarray(from, to), rangeCrc);
      }
      expected += data.length;
      const from = Math.max(0, start - msg.offset);
      const to = Math.min(data.length, end - msg.offset);
      if (to > from) pieces.push(from === 0 && to === data.length ? data : data.subarray(from, to));
      if (expected >= end) break;
    }
    if (whole && expected >= end && rangeCrc !== chunk.crc32c >>> 0) {
      const reason = `whole-chunk checksum ${rangeCrc} differs from the ${chunk.crc32c >>> 0} the master recorded`;
      ctx.onCorruptReplica?.(chunk.handle, replica, reason);
      throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${chunk.handle} on ${replica.id}: ${reason}`);
    }
  } catch (err) {
    call.cancel();
    throw toDfsError(err);
  } finally {
    ctx.signal?.removeEventListener('abort', onAbort);
  }
  // The verified blocks are handed on as they arrived: no concatenation copy.
  const got = pieces.reduce((n, p) => n + p.length, 0);
  if (got !== end - start) {
    throw new DfsError(ErrorCode.UNAVAILABLE, `chunk ${chunk.handle} on ${replica.id}: short read (${got} of ${end - start} bytes)`);
  }
  return { bufs: pieces, crc: rangeCrc };
}

/** The first pause before asking the master again where a chunk is, and the longest. */
const RELOCATE_FIRST_PAUSE_MS = 200;
const RELOCATE_MAX_PAUSE_MS = 2_000;

/**
 * Reads [start, end) of a chunk, trying replicas in policy order and falling back on any failure.
 *
 * When no replica is listed or every one fails, the master is asked again where the chunk is,
 * with growing pauses, until `ctx.relocateWindowMs` has passed (HDFS's DFSInputStream refetches
 * block locations the same way): a master that just became leader learns replicas from the
 * chunkservers' next reports, and a lost replica is copied elsewhere.
 */
export async function readChunkRange(ctx: RangeReadContext, chunk: ChunkLocation, start: number, end: number): Promise<RangeBytes> {
  if (end <= start) return { bufs: [], crc: 0 };
  const expiry = tokenExpiry(chunk);
  if (ctx.refresh && expiry !== undefined && expiry - TOKEN_MARGIN_MS <= Date.now()) await ctx.refresh(chunk);
  const giveUpAt = Date.now() + (ctx.relocateWindowMs ?? 0);
  let pause = RELOCATE_FIRST_PAUSE_MS;
  let renewedToken = false;
  for (;;) {
    const errors: string[] = [];
    const replicas = ctx.policy.order(tokenReplicas(chunk));
    let expired = false;
    // Only corrupt copies: asking again cannot help (the master re-replicates from a good one).
    let onlyCorrupt = replicas.length > 0;
    for (const replica of replicas) {
      if (ctx.signal?.aborted) throw new DfsError(ErrorCode.CANCELLED, 'read cancelled');
      ctx.policy.begin(replica.address);
      try {
        return await readFromReplica(ctx, chunk, replica, start, end);
      } catch (e) {
        const err = toDfsError(e);
        if (err.code === ErrorCode.CANCELLED && ctx.signal?.aborted) throw err;
        errors.push(`${replica.id}: ${err.message}`);
        if (err.code !== ErrorCode.CHECKSUM_MISMATCH) onlyCorrupt = false;
        if (err.code === ErrorCode.TOKEN_EXPIRED) {
          expired = true;
          break;
        }
      } finally {
        ctx.policy.end(replica.address);
      }
    }
    // A token that expired in flight (or clocks that disagree) is renewed at once, once.
    if (expired && ctx.refresh && !renewedToken) {
      renewedToken = true;
      await ctx.refresh(chunk);
      continue;
    }
    if (!ctx.refresh || onlyCorrupt || Date.now() + pause > giveUpAt) {
      throw new DfsError(
        ErrorCode.UNAVAILABLE,
        replicas.length === 0 ? `chunk ${chunk.handle} has no live replica` : `chunk ${chunk.handle}: every replica failed (${errors.join('; ')})`,
      );
    }
    await delay(pause, ctx.signal);
    pause = Math.min(2 * pause, RELOCATE_MAX_PAUSE_MS);
    await ctx.refresh(chunk, { maxAgeMs: 0 });
  }
}
