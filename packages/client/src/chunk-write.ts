import { once } from 'node:events';
import {
  BlockFramer,
  ChunkServiceService,
  chunkMetadata,
  crc32cOf,
  DfsError,
  encodeWritePieces,
  MAX_FRAME_PIECES,
  ErrorCode,
  toDfsError,
  type ChunkLocation,
  type WriteChunkRequest,
  type WriteChunkResponse,
} from '@dfs/proto';
import type { ChunkserverPool } from './rpc.js';

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
    chunkMetadata(opts.requestId, location.token),
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
    // Blocks go out up to MAX_FRAME_PIECES to a message (1 MiB), each with its own CRC32C:
    // per-message costs are paid once per MiB instead of once per 64 KiB. A message never
    // spans two input buffers, so a producer may reuse its buffer once we asked for the next.
    const framer = new BlockFramer();
    let group: Buffer[] = [];
    let groupCrcs: number[] = [];
    const flushGroup = async (): Promise<void> => {
      if (group.length === 0) return;
      const message = encodeWritePieces(group, groupCrcs);
      group = [];
      groupCrcs = [];
      await send(message);
    };
    const addBlock = async (block: Buffer): Promise<void> => {
      length += block.length;
      crc = crc32cOf(block, crc);
      group.push(block);
      groupCrcs.push(crc32cOf(block));
      if (group.length === MAX_FRAME_PIECES) await flushGroup();
    };
    for await (const piece of data) {
      if (callFailed) break;
      for (const block of framer.push(piece)) await addBlock(block);
      await flushGroup();
    }
    const last = framer.flush();
    if (last) await addBlock(last);
    await flushGroup();
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
