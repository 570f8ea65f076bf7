import { BLOCK_SIZE, crc32cOf } from '@dfs/proto';

/*
 * The metadata file of one replica (`chunks/<handle>.meta`), little-endian:
 *
 *   off  size  field
 *     0     4  magic "DFSM"
 *     4     2  format (1)
 *     6     2  reserved (0)
 *     8     8  handle
 *    16     8  version
 *    24     8  generation   (names the data file: chunks/<handle>.<generation>.data)
 *    32     8  length       (committed bytes; the data file may be longer after a crash)
 *    40     4  CRC32C of the whole committed chunk
 *    44     4  n = number of 64 KiB blocks = ceil(length / 65536)
 *    48    4n  CRC32C of each block (the last covers only the committed bytes)
 *  48+4n    4  CRC32C of bytes [0, 48+4n) — a torn or bit-rotten meta file is detected
 *
 * The meta file is the commit point of a replica: it is replaced only by rename.
 */

const MAGIC = 0x4d534644; // "DFSM" read as little-endian uint32
const FORMAT = 1;
const HEADER_BYTES = 48;

export interface ChunkMeta {
  handle: number;
  version: number;
  generation: number;
  length: number;
  crc32c: number;
  /** Per-block CRC32Cs; length === ceil(length / BLOCK_SIZE). */
  blockCrcs: readonly number[];
}

export function encodeMeta(meta: ChunkMeta): Buffer {
  const n = meta.blockCrcs.length;
  const buf = Buffer.alloc(HEADER_BYTES + 4 * n + 4);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt16LE(FORMAT, 4);
  buf.writeUInt16LE(0, 6);
  buf.writeBigUInt64LE(BigInt(meta.handle), 8);
  buf.writeBigUInt64LE(BigInt(meta.version), 16);
  buf.writeBigUInt64LE(BigInt(meta.generation), 24);
  buf.writeBigUInt64LE(BigInt(meta.length), 32);
  buf.writeUInt32LE(meta.crc32c >>> 0, 40);
  buf.writeUInt32LE(n, 44);
  for (let i = 0; i < n; i++) buf.writeUInt32LE(meta.blockCrcs[i]! >>> 0, HEADER_BYTES + 4 * i);
  const end = HEADER_BYTES + 4 * n;
  buf.writeUInt32LE(crc32cOf(buf.subarray(0, end)), end);
  return buf;
}

/** Decodes and validates a meta file; throws an Error describing the first problem found. */
export function decodeMeta(buf: Buffer): ChunkMeta {
  if (buf.length < HEADER_BYTES + 4) throw new Error(`meta file too short (${buf.length} bytes)`);
  if (buf.readUInt32LE(0) !== MAGIC) throw new Error('meta file has a bad magic number');
  const format = buf.readUInt16LE(4);
  if (format !== FORMAT) throw new Error(`meta file has unknown format ${format}`);
  const n = buf.readUInt32LE(44);
  const end = HEADER_BYTES + 4 * n;
  if (buf.length !== end + 4) throw new Error(`meta file length ${buf.length} does not match its ${n} blocks`);
  if (buf.readUInt32LE(end) !== crc32cOf(buf.subarray(0, end))) throw new Error('meta file checksum mismatch');
  const handle = safe(buf.readBigUInt64LE(8), 'handle');
  const version = safe(buf.readBigUInt64LE(16), 'version');
  const generation = safe(buf.readBigUInt64LE(24), 'generation');
  const length = safe(buf.readBigUInt64LE(32), 'length');
  if (Math.ceil(length / BLOCK_SIZE) !== n) throw new Error(`meta file has ${n} block checksums for ${length} bytes`);
  const blockCrcs = new Array<number>(n);
  for (let i = 0; i < n; i++) blockCrcs[i] = buf.readUInt32LE(HEADER_BYTES + 4 * i);
  return { handle, version, generation, length, crc32c: buf.readUInt32LE(40), blockCrcs };
}

function safe(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`meta file ${what} out of range`);
  return Number(value);
}
