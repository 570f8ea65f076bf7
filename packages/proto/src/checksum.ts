import { crc32c } from '@node-rs/crc32';
import { BLOCK_SIZE } from './limits.js';

/** CRC32C (Castagnoli) of `data`, continuing from `initial` when given. */
export function crc32cOf(data: Uint8Array, initial = 0): number {
  return crc32c(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), initial) >>> 0;
}

/** Number of checksum blocks for `length` bytes. */
export function blockCount(length: number): number {
  return Math.ceil(length / BLOCK_SIZE);
}

/** Per-block CRC32Cs of `data`, blocks of BLOCK_SIZE (the last may be short). */
export function blockChecksums(data: Uint8Array): number[] {
  const sums: number[] = [];
  for (let off = 0; off < data.length; off += BLOCK_SIZE) {
    sums.push(crc32cOf(data.subarray(off, Math.min(off + BLOCK_SIZE, data.length))));
  }
  return sums;
}

/**
 * Cuts an arbitrary stream of buffers into BLOCK_SIZE frames (the last may be short),
 * each with its CRC32C. Feed with `push`, drain with `flush` at end of input.
 */
export class BlockFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  constructor(private readonly blockSize = BLOCK_SIZE) {}

  /** Returns the whole blocks now available. */
  push(chunk: Buffer): Array<{ data: Buffer; crc32c: number }> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Array<{ data: Buffer; crc32c: number }> = [];
    if (this.pendingBytes < this.blockSize) return out;
    let buf = Buffer.concat(this.pending, this.pendingBytes);
    while (buf.length >= this.blockSize) {
      const block = buf.subarray(0, this.blockSize);
      out.push({ data: block, crc32c: crc32cOf(block) });
      buf = buf.subarray(this.blockSize);
    }
    this.pending = buf.length ? [buf] : [];
    this.pendingBytes = buf.length;
    return out;
  }

  /** Returns the final short block, if any. */
  flush(): Array<{ data: Buffer; crc32c: number }> {
    if (this.pendingBytes === 0) return [];
    const block = Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    return [{ data: block, crc32c: crc32cOf(block) }];
  }
}
