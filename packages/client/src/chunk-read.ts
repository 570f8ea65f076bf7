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
  /** The longest wait for a replica's next ReadChunk message before the read moves to another replica. */
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

/** Verified bytes of one ReadChunk message within the range asked for, with their CRC32C. */
interface VerifiedPart {
  data: Buffer;
  crc: number;
}

/**
 * Streams [start, end) of one chunk from one replica as verified parts, one per message: every
 * block is checked against the CRC32C the replica stored at write time (end-to-end: computed by
 * the writer) before any of its bytes are handed on. A replica that sends nothing for
 * `ctx.timeoutMs` while a part is awaited (dead, SIGSTOPped, partitioned) is cancelled with
 * DEADLINE_EXCEEDED; time the caller spends not asking for the next part does not count, so a
 * read parked behind another by flow control is not taken for a stalled one.
 */
async function* replicaParts(ctx: RangeReadContext, chunk: ChunkLocation, replica: ChunkserverRef, start: number, end: number): AsyncGenerator<VerifiedPart> {
  const alignedStart = start - (start % BLOCK_SIZE);
  const call = ctx.pool.get(replica.address).readChunk(
    { handle: chunk.handle, version: chunk.version, offset: alignedStart, length: end - alignedStart, requestId: ctx.requestId ?? '' },
    chunkMetadata(ctx.requestId, chunk.token),
  );
  const onAbort = (): void => call.cancel();
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const messages = (call as AsyncIterable<ReadChunkResponse>)[Symbol.asyncIterator]();
  let expected = alignedStart;
  try {
    while (expected < end) {
      timer = setTimeout(() => {
        stalled = true;
        call.cancel();
      }, ctx.timeoutMs);
      let next: IteratorResult<ReadChunkResponse>;
      try {
        next = await messages.next();
      } finally {
        clearTimeout(timer);
      }
      if (next.done) break;
      const msg = next.value;
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
      // CRC32C of the bytes handed on: a whole block's is its verified CRC32C, folded in by
      // crc32cCombine; only a block cut by the range's edges is summed again over its used part.
      let partCrc = 0;
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
        partCrc = from === 0 && to === block.data.length ? crc32cCombine(partCrc, crc, to) : crc32cOf(block.data.subarray(from, to), partCrc);
      }
      expected += data.length;
      const from = Math.max(0, start - msg.offset);
      const to = Math.min(data.length, end - msg.offset);
      // The verified blocks are handed on as they arrived: views, no concatenation copy.
      if (to > from) yield { data: from === 0 && to === data.length ? data : data.subarray(from, to), crc: partCrc };
    }
    if (expected < end) {
      throw new DfsError(ErrorCode.UNAVAILABLE, `chunk ${chunk.handle} on ${replica.id}: short read (${Math.max(0, expected - start)} of ${end - start} bytes)`);
    }
  } catch (err) {
    if (stalled) throw new DfsError(ErrorCode.DEADLINE_EXCEEDED, `chunk ${chunk.handle} on ${replica.id}: no data for ${ctx.timeoutMs} ms`);
    throw toDfsError(err);
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', onAbort);
    // Stops the call whenever the read ends early: an error here, or the caller stopping (a
    // generator return, or an error downstream).
    if (expected < end) call.cancel();
  }
}

/** The first pause before asking the master again where a chunk is, and the longest. */
const RELOCATE_FIRST_PAUSE_MS = 200;
const RELOCATE_MAX_PAUSE_MS = 2_000;

/**
 * Streams [start, end) of a chunk as verified buffers in order: one long ReadChunk call to a
 * replica chosen by the policy, so flow control paces it, not a call per piece. When that replica
 * fails mid-call (dies, stalls, serves a bad block) the read resumes from the last verified byte
 * on the next replica; bytes already handed on are never asked for again.
 *
 * A whole-chunk read is also checked against the CRC32C the master recorded at commit (0 = not
 * recorded), not only each block against the replica's own: a replica that holds other bytes with
 * matching block checksums (a stale or rewritten copy) is caught too. The CRC32C is folded over
 * the parts (from whichever replicas served them) and compared at the end, so the last
 * `holdBytes` of the chunk are held back until it matches. If nothing was handed on yet when it
 * does not match, the chunk is read again from another replica (the culprit reported when one
 * replica served it all); once bytes went out, the read fails with CHECKSUM_MISMATCH.
 *
 * When no replica is listed, or every one fails without progress, the master is asked again where
 * the chunk is, with growing pauses, until `ctx.relocateWindowMs` has passed (HDFS's
 * DFSInputStream refetches block locations the same way): a master that just became leader
 * learns replicas from the chunkservers' next reports, and a lost replica is copied elsewhere.
 * Returns the CRC32C of all the bytes handed on.
 */
export async function* streamChunkRange(
  ctx: RangeReadContext,
  chunk: ChunkLocation,
  start: number,
  end: number,
  holdBytes = Infinity,
): AsyncGenerator<Buffer, number> {
  if (end <= start) return 0;
  const expiry = tokenExpiry(chunk);
  if (ctx.refresh && expiry !== undefined && expiry - TOKEN_MARGIN_MS <= Date.now()) await ctx.refresh(chunk);
  const whole = start === 0 && end === chunk.length && hasRecordedCrc(chunk);
  // Bytes below this may leave before the whole-chunk check; the rest wait for it.
  const releaseAt = whole ? Math.max(start, end - holdBytes) : end;
  let at = start; // every byte before it is verified and handed on or held
  let crc = 0; // CRC32C of [start, at)
  let handedOn = start;
  let held: Buffer[] = [];
  const servedBy = new Map<string, ChunkserverRef>(); // by id: a refresh replaces the objects
  const giveUpAt = Date.now() + (ctx.relocateWindowMs ?? 0);
  let pause = RELOCATE_FIRST_PAUSE_MS;
  let renewedToken = false;
  for (;;) {
    const errors: string[] = [];
    const replicas = ctx.policy.order(tokenReplicas(chunk));
    let expired = false;
    let progressed = false;
    // Only corrupt copies: asking again cannot help (the master re-replicates from a good one).
    let onlyCorrupt = replicas.length > 0;
    for (const replica of replicas) {
      if (ctx.signal?.aborted) throw new DfsError(ErrorCode.CANCELLED, 'read cancelled');
      const from = at;
      ctx.policy.begin(replica.address);
      try {
        for await (const part of replicaParts(ctx, chunk, replica, at, end)) {
          crc = crc32cCombine(crc, part.crc, part.data.length);
          at += part.data.length;
          servedBy.set(replica.id, replica);
          if (at <= releaseAt) {
            for (const b of held) yield b;
            held = [];
            yield part.data;
            handedOn = at;
          } else {
            held.push(part.data);
          }
        }
      } catch (e) {
        const err = toDfsError(e);
        if (err.code === ErrorCode.CANCELLED && ctx.signal?.aborted) throw err;
        errors.push(`${replica.id}: ${err.message}`);
        if (at > from) progressed = true;
        if (err.code !== ErrorCode.CHECKSUM_MISMATCH) onlyCorrupt = false;
        if (err.code === ErrorCode.TOKEN_EXPIRED) {
          expired = true;
          break;
        }
        continue;
      } finally {
        ctx.policy.end(replica.address);
      }
      if (!whole || crc >>> 0 === chunk.crc32c >>> 0) {
        for (const b of held) yield b;
        return crc;
      }
      const reason = `whole-chunk checksum ${crc >>> 0} differs from the ${chunk.crc32c >>> 0} the master recorded`;
      const [only] = servedBy.size === 1 ? [...servedBy.values()] : [];
      if (only) ctx.onCorruptReplica?.(chunk.handle, only, reason);
      if (handedOn > start) throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${chunk.handle}${only ? ` on ${only.id}` : ''}: ${reason}`);
      // Nothing went out: read the chunk again, whole, from the next replica.
      errors.push(`${replica.id}: ${reason}`);
      at = start;
      crc = 0;
      held = [];
      servedBy.clear();
    }
    // A replica that made progress before failing is no reason to pause: go round again.
    if (progressed) continue;
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
