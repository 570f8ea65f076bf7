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

/*
 * CRC32C of a concatenation from the CRC32Cs of its parts (zlib's crc32_combine, over the
 * reflected Castagnoli polynomial): crc(A‖B) = (x^(8·|B|) · crc(A)) mod P ⊕ crc(B). A reader
 * that has verified every block against its CRC32C gets the CRC32C of the whole range from those
 * block CRCs, without a second pass over the bytes: the result is exactly the CRC of the bytes.
 */
const CASTAGNOLI_REFLECTED = 0x82f63b78;

/** a · b mod P, in the reflected bit order CRCs use. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ CASTAGNOLI_REFLECTED : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) mod P for k = 0…63 (lengths below 2^53 bytes need k ≤ 56). */
const X2N: number[] = [0x40000000];
for (let k = 1; k < 64; k++) X2N.push(multModP(X2N[k - 1]!, X2N[k - 1]!));

/** x^(8·bytes) mod P: the operator that shifts a CRC over `bytes` zero bytes. */
function shiftOperator(bytes: number): number {
  let p = 0x80000000; // x^0
  let n = bytes;
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) p = multModP(X2N[k]!, p);
  }
  return p;
}

const BLOCK_SHIFT = shiftOperator(BLOCK_SIZE);

/** CRC32C of A‖B, given crc(A), crc(B) and |B| in bytes. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const op = lengthB === BLOCK_SIZE ? BLOCK_SHIFT : shiftOperator(lengthB);
  return (multModP(op, crcA >>> 0) ^ crcB) >>> 0;
}
