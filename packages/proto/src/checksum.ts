import { BLOCK_SIZE } from './limits.js';

type Crc32c = (data: Buffer, initial?: number) => number;
let native: Crc32c | undefined;

/** CRC32C (Castagnoli) of `data`, continuing from `initial` when given. */
export function crc32cOf(data: Uint8Array, initial = 0): number {
  // The native addon is opened on first use: a metadata command (`dfs stat`) never pays its dlopen.
  const crc32c = (native ??= (require('@node-rs/crc32') as { crc32c: Crc32c }).crc32c);
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
