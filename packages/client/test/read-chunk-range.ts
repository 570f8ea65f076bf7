import type { ChunkLocation } from '@dfs/proto';
import { streamChunkRange, type RangeReadContext } from '../src/chunk-read.js';

/**
 * Reads [start, end) of a chunk whole (streamChunkRange collected): the verified buffers as they
 * arrived and the CRC32C streamChunkRange folded over them. The client itself only streams.
 */
export async function readChunkRange(ctx: RangeReadContext, chunk: ChunkLocation, start: number, end: number): Promise<{ bufs: Buffer[]; crc: number }> {
  const bufs: Buffer[] = [];
  const parts = streamChunkRange(ctx, chunk, start, end);
  for (;;) {
    const next = await parts.next();
    if (next.done) return { bufs, crc: next.value };
    bufs.push(next.value);
  }
}
