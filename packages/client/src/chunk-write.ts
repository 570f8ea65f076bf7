import { once } from 'node:events';
import {
  BLOCK_SIZE,
  ChunkServiceService,
  crc32cOf,
  DfsError,
  ErrorCode,
  toDfsError,
  type ChunkLocation,
  type WriteChunkRequest,
  type WriteChunkResponse,
} from '@dfs/proto';
import type { ChunkserverPool } from './chunkserver-pool.js';
import { requestMetadata } from './rpc.js';

export interface ChunkWriteResult {
  length: number;
  crc32c: number;
  replicas: string[];
}

/** Slowest transfer rate we tolerate before declaring a pipeline stalled. */
const MIN_BYTES_PER_SEC = 2 * 1024 * 1024;
const MIN_DEADLINE_MS = 30_000;

/**
 * Streams one chunk to its primary, which writes it and forwards it along the chain
 * (GFS §3.2: data flows along a chain of chunkservers, pipelined). The returned
 * promise resolves only when every replica holds the bytes durably and the whole-chunk
 * CRC32C matches what we sent.
 */
export async function writeChunk(
  pool: ChunkserverPool,
  location: ChunkLocation,
  chunkSize: number,
  data: AsyncIterable<Buffer>,
  opts: {
    /** Append: where the frames start (the chunk's committed length). */
    offset?: number;
    /** Append: CRC32C of the chunk's committed bytes, continued over the new ones to check the result. */
    initialCrc?: number;
    /** The primary's chunk lease; the primary refuses the mutation once it has expired. */
    leaseExpiryMs?: number;
    requestId?: string;
    signal?: AbortSignal;
  } = {},
): Promise<ChunkWriteResult> {
  const [primary, ...chain] = location.replicas;
  if (!primary) throw new DfsError(ErrorCode.NOT_ENOUGH_CHUNKSERVERS, `chunk ${location.handle} has no replicas`);
  const client = pool.get(primary.address);
  const deadline = Date.now() + Math.max(MIN_DEADLINE_MS, (chunkSize / MIN_BYTES_PER_SEC) * 1000);

  let settle!: { resolve: (r: WriteChunkResponse) => void; reject: (e: unknown) => void };
  const response = new Promise<WriteChunkResponse>((resolve, reject) => (settle = { resolve, reject }));
  // Raw serialization: the header through the generated codec, data frames by hand (one copy).
  const call = client.makeClientStreamRequest<Buffer, WriteChunkResponse>(
    ChunkServiceService.writeChunk.path,
    (b: Buffer) => b,
    ChunkServiceService.writeChunk.responseDeserialize,
    requestMetadata(opts.requestId),
    { deadline },
    (err, res) => (err || !res ? settle.reject(err ?? new Error('empty WriteChunk response')) : settle.resolve(res)),
  );
  const onAbort = (): void => call.cancel();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // A failed call ends the writable side; remember that so we stop writing frames.
  let callFailed = false;
  response.catch(() => (callFailed = true));

  const send = async (raw: Buffer): Promise<void> => {
    if (callFailed) return;
    if (!call.write(raw)) await Promise.race([once(call, 'drain'), response.then(() => undefined, () => undefined)]);
  };

  let length = 0;
  let crc = opts.initialCrc ?? 0;
  try {
    await send(ChunkServiceService.writeChunk.requestSerialize({
      msg: {
        $case: 'header',
        value: {
          handle: location.handle,
          version: location.version,
          chain,
          requestId: opts.requestId ?? '',
          chunkSize,
          offset: opts.offset ?? 0,
          leaseExpiryMs: opts.leaseExpiryMs ?? 0,
        },
      },
    } satisfies WriteChunkRequest));
    const framer = new Framer();
    const sendBlock = async (block: Buffer): Promise<void> => {
      length += block.length;
      crc = crc32cOf(block, crc);
      await send(encodeFrame(block, crc32cOf(block)));
    };
    for await (const piece of data) {
      if (callFailed) break;
      for (const block of framer.push(piece)) await sendBlock(block);
    }
    const last = framer.flush();
    if (last) await sendBlock(last);
    call.end();
    const res = await response;
    if (!callFailed && (res.length !== (opts.offset ?? 0) + length)) {
      throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${location.handle}: replicas stored ${res.length} bytes, sent ${length}`);
    }
    if ((!opts.offset || opts.initialCrc !== undefined) && res.crc32c !== crc) {
      throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${location.handle}: replica checksum ${res.crc32c} != sent ${crc}`);
    }
    return { length: res.length, crc32c: res.crc32c, replicas: res.replicas };
  } catch (err) {
    call.cancel();
    // The stream's own failure says more than a write-after-end error does.
    const real = await response.then(() => err, (e) => e);
    throw toDfsError(real);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Cuts a byte stream into checksum blocks (BLOCK_SIZE). Whole blocks inside one input buffer
 * are views of it; only a block that straddles two input buffers is copied.
 */
export class Framer {
  private parts: Buffer[] = [];
  private bytes = 0;

  *push(piece: Buffer): Generator<Buffer> {
    let off = 0;
    if (this.bytes > 0) {
      const take = Math.min(BLOCK_SIZE - this.bytes, piece.length);
      this.parts.push(piece.subarray(0, take));
      this.bytes += take;
      off = take;
      if (this.bytes === BLOCK_SIZE) {
        yield Buffer.concat(this.parts, BLOCK_SIZE);
        this.parts = [];
        this.bytes = 0;
      }
    }
    while (piece.length - off >= BLOCK_SIZE) {
      yield piece.subarray(off, off + BLOCK_SIZE);
      off += BLOCK_SIZE;
    }
    if (off < piece.length) {
      this.parts.push(piece.subarray(off));
      this.bytes += piece.length - off;
    }
  }

  /** The final short block, if any. */
  flush(): Buffer | undefined {
    if (this.bytes === 0) return undefined;
    const block = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    return block;
  }
}

function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

/**
 * Serializes WriteChunkRequest{frame: DataFrame{data, crc32c}} (fields 2 → 1, 2) with one
 * allocation and one copy of the data; the bytes are exactly what the generated codec makes.
 */
export function encodeFrame(data: Buffer, crc: number): Buffer {
  const c = crc >>> 0;
  const inner = 1 + varintLength(data.length) + data.length + (c !== 0 ? 1 + varintLength(c) : 0);
  const out = Buffer.allocUnsafe(1 + varintLength(inner) + inner);
  let p = 0;
  out[p++] = 0x12;
  p = writeVarint(out, p, inner);
  out[p++] = 0x0a;
  p = writeVarint(out, p, data.length);
  data.copy(out, p);
  p += data.length;
  if (c !== 0) {
    out[p++] = 0x10;
    p = writeVarint(out, p, c);
  }
  return out;
}
