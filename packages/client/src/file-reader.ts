import { DfsError, ErrorCode, crc32cCombine, type ChunkLocation, type FileStatus } from '@dfs/proto';
import { hasRecordedCrc, readChunkRange, type RangeBytes, type RangeReadContext } from './chunk-read.js';

/** Bytes fetched by one read request; several are in flight at once, from different replicas. */
const PIECE_BYTES = 4 * 1024 * 1024;

interface Piece {
  chunk: ChunkLocation;
  start: number; // within the chunk
  end: number;
}

/** Cuts [start, end) of the file into per-chunk pieces of at most PIECE_BYTES. */
export function planPieces(chunks: readonly ChunkLocation[], start: number, end: number): Piece[] {
  const pieces: Piece[] = [];
  for (const chunk of chunks) {
    const chunkStart = chunk.offset;
    const chunkEnd = chunk.offset + chunk.length;
    const from = Math.max(start, chunkStart);
    const to = Math.min(end, chunkEnd);
    for (let off = from; off < to; off += PIECE_BYTES) {
      pieces.push({ chunk, start: off - chunkStart, end: Math.min(to, off + PIECE_BYTES) - chunkStart });
    }
  }
  return pieces;
}

/**
 * Streams [start, end) of a file in order while keeping up to `parallel` pieces in
 * flight: memory stays at parallel × PIECE_BYTES whatever the file size.
 */
export async function* readFileRange(
  ctx: RangeReadContext,
  file: FileStatus,
  chunks: readonly ChunkLocation[],
  start: number,
  end: number,
  parallel: number,
): AsyncGenerator<Buffer> {
  const pieces = planPieces(chunks, start, Math.min(end, file.size));
  const covered = pieces.reduce((n, p) => n + (p.end - p.start), 0);
  if (covered !== Math.max(0, Math.min(end, file.size) - start)) {
    throw new DfsError(ErrorCode.INTERNAL, `${file.path}: chunk list does not cover the file (size ${file.size})`);
  }
  const window: Array<{ piece: Piece; bytes: Promise<RangeBytes> }> = [];
  let next = 0;
  const launch = (): void => {
    const piece = pieces[next++]!;
    const p = readChunkRange(ctx, piece.chunk, piece.start, piece.end);
    p.catch(() => undefined); // observed when its turn comes
    window.push({ piece, bytes: p });
  };
  // A chunk read whole in several pieces (perhaps from several replicas) is checked against
  // the CRC32C the master recorded before its last piece is handed on; one piece covering a
  // whole chunk was checked by readChunkRange, which can still fall back to another replica.
  let crc = 0;
  let tracking: ChunkLocation | undefined;
  try {
    while (next < pieces.length && window.length < parallel) launch();
    while (window.length > 0) {
      const { piece, bytes: pending } = window.shift()!;
      const { bufs, crc: pieceCrc } = await pending;
      if (next < pieces.length) launch();
      const { chunk } = piece;
      if (piece.start === 0) {
        tracking = piece.end < chunk.length && hasRecordedCrc(chunk) ? chunk : undefined;
        crc = 0;
      }
      if (tracking === chunk) {
        crc = crc32cCombine(crc, pieceCrc, piece.end - piece.start);
        if (piece.end === chunk.length && crc >>> 0 !== chunk.crc32c >>> 0) {
          throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `${file.path}: chunk ${chunk.handle} read back with CRC32C ${crc >>> 0}, the master recorded ${chunk.crc32c >>> 0}`);
        }
      }
      for (const buf of bufs) yield buf;
    }
  } finally {
    // An abandoned generator leaves nothing running that matters: results are dropped.
    window.length = 0;
  }
}
