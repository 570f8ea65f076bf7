import { makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { ChunkServiceClient, ChunkServiceService, type DataFrame, type WriteChunkRequest, type WriteChunkResponse, type ReadChunkResponse } from './gen/dfs/v1/chunk.js';
import { BLOCK_SIZE } from './limits.js';

/*
 * The data path's wire format, in one place: block framing, the protobuf varint, and the
 * ChunkService frames serialized by hand so that block data is copied at most once.
 * The bytes on the wire are exactly those of the .proto contract (tests compare them with
 * the generated codec); only who allocates and copies changes.
 */

/** Bytes a protobuf varint of `value` (0 ≤ value < 2^53) takes. */
export function varintLength(value: number): number {
  let v = value;
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes `value` as a protobuf varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

/**
 * Cuts a byte stream into checksum blocks of BLOCK_SIZE (the last may be short). Whole blocks
 * inside one input buffer are views of it; only a block that straddles two inputs is copied.
 */
export class BlockFramer {
  private parts: Buffer[] = [];
  private bytes = 0;
  constructor(private readonly blockSize = BLOCK_SIZE) {}

  /** Bytes held for a block not yet complete. */
  get pending(): number {
    return this.bytes;
  }

  /** The whole blocks `piece` completes, in order. */
  *push(piece: Buffer): Generator<Buffer> {
    const size = this.blockSize;
    let off = 0;
    if (this.bytes > 0) {
      const take = Math.min(size - this.bytes, piece.length);
      this.parts.push(piece.subarray(0, take));
      this.bytes += take;
      off = take;
      if (this.bytes === size) {
        yield Buffer.concat(this.parts, size);
        this.parts = [];
        this.bytes = 0;
      }
    }
    while (piece.length - off >= size) {
      yield piece.subarray(off, off + size);
      off += size;
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

/**
 * Serializes WriteChunkRequest{frame: DataFrame{data, crc32c}} (fields 2 → 1, 2) with one
 * allocation and one copy of the data.
 */
export function encodeWriteFrame(data: Buffer, crc: number): Buffer {
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

/** Most pieces one WriteChunk frame may carry (`piece_crc32cs`): 16 × 64 KiB = 1 MiB messages. */
export const MAX_FRAME_PIECES = 16;

/**
 * Serializes WriteChunkRequest{frame: DataFrame{data: concat(pieces), piece_crc32cs}} with one
 * allocation and one copy of the data: up to MAX_FRAME_PIECES pieces (each BLOCK_SIZE but the
 * last) in one message. One piece is sent as a classic single-piece frame.
 */
export function encodeWritePieces(pieces: readonly Buffer[], crcs: readonly number[]): Buffer {
  if (pieces.length === 1) return encodeWriteFrame(pieces[0]!, crcs[0]!);
  let dataLen = 0;
  for (const p of pieces) dataLen += p.length;
  let packedLen = 0;
  for (const c of crcs) packedLen += varintLength(c >>> 0);
  const inner = 1 + varintLength(dataLen) + dataLen + 1 + varintLength(packedLen) + packedLen;
  const out = Buffer.allocUnsafe(1 + varintLength(inner) + inner);
  let p = 0;
  out[p++] = 0x12;
  p = writeVarint(out, p, inner);
  out[p++] = 0x0a;
  p = writeVarint(out, p, dataLen);
  for (const piece of pieces) {
    piece.copy(out, p);
    p += piece.length;
  }
  out[p++] = 0x1a;
  p = writeVarint(out, p, packedLen);
  for (const c of crcs) p = writeVarint(out, p, c >>> 0);
  return out;
}

/** Room kept in front of block data that becomes a WriteChunk frame in place (16 piece CRCs fit). */
export const WRITE_HEADROOM = 128;

/** Buffers from `allocFramable`: the WRITE_HEADROOM bytes in front of each belong to it. */
const framable = new WeakSet<Buffer>();

/** `size` bytes to fill (a local file read) with room in front for `encodeWritePiecesInPlace`. */
export function allocFramable(size: number): Buffer {
  const view = Buffer.allocUnsafeSlow(WRITE_HEADROOM + size).subarray(WRITE_HEADROOM);
  framable.add(view);
  return view;
}

/** True for a buffer from `allocFramable` (whose headroom `encodeWritePiecesInPlace` may use). */
export function isFramable(buf: Buffer): boolean {
  return framable.has(buf);
}

/**
 * Serializes WriteChunkRequest{frame: DataFrame{piece_crc32cs, data: pieces}} in the headroom in
 * front of `pieces` (a buffer from `allocFramable`: consecutive pieces, each BLOCK_SIZE but the
 * last, one CRC32C each), so the message is that buffer and the data is not copied.
 */
export function encodeWritePiecesInPlace(pieces: Buffer, crcs: readonly number[]): Buffer {
  if (!framable.has(pieces)) throw new Error('encodeWritePiecesInPlace needs a buffer from allocFramable');
  if (crcs.length === 0 || crcs.length > MAX_FRAME_PIECES || Math.ceil(pieces.length / BLOCK_SIZE) !== crcs.length) {
    throw new Error(`${pieces.length} bytes do not make ${crcs.length} pieces of one frame`);
  }
  let packedLen = 0;
  for (const c of crcs) packedLen += varintLength(c >>> 0);
  const inner = 1 + varintLength(packedLen) + packedLen + 1 + varintLength(pieces.length) + pieces.length;
  const start = pieces.byteOffset - (1 + varintLength(inner) + inner - pieces.length);
  const out = Buffer.from(pieces.buffer, start, pieces.byteOffset + pieces.length - start);
  let p = 0;
  out[p++] = 0x12;
  p = writeVarint(out, p, inner);
  out[p++] = 0x1a;
  p = writeVarint(out, p, packedLen);
  for (const c of crcs) p = writeVarint(out, p, c >>> 0);
  out[p++] = 0x0a;
  writeVarint(out, p, pieces.length);
  return out;
}

/**
 * The pieces of a received DataFrame with their CRC32Cs, as views of its data (no copy).
 * Throws a one-line message for a frame whose pieces do not add up.
 */
export function framePieces(data: Buffer, crc32c: number, pieceCrcs: readonly number[]): Array<{ data: Buffer; crc: number }> {
  if (pieceCrcs.length === 0) return [{ data, crc: crc32c }];
  if (pieceCrcs.length > MAX_FRAME_PIECES) throw new Error(`frame carries ${pieceCrcs.length} pieces, at most ${MAX_FRAME_PIECES}`);
  if (Math.ceil(data.length / BLOCK_SIZE) !== pieceCrcs.length) {
    throw new Error(`frame of ${data.length} bytes does not match its ${pieceCrcs.length} piece checksums`);
  }
  return pieceCrcs.map((crc, i) => ({ data: data.subarray(i * BLOCK_SIZE, Math.min(data.length, (i + 1) * BLOCK_SIZE)), crc }));
}

/** Room kept in front of blocks read from disk for the ReadChunkResponse field headers (16 CRCs fit) and the 5-byte gRPC prefix (`preframe`). */
export const READ_HEADROOM = 128;

/**
 * Turns `buf` = [READ_HEADROOM spare bytes][len bytes of block data] into a serialized
 * ReadChunkResponse {offset, crc32c, data} by writing the field headers just before the data
 * (no copy of the data). Fields: 1 offset (varint), 3 crc32c (varint), 2 data (bytes).
 */
export function encodeReadFrame(buf: Buffer, len: number, offset: number, crc: number): Buffer {
  let head = 0;
  const tmp = Buffer.allocUnsafe(READ_HEADROOM);
  if (offset > 0) {
    tmp[head++] = 0x08;
    head = writeVarint(tmp, head, offset);
  }
  if (crc >>> 0 !== 0) {
    tmp[head++] = 0x18;
    head = writeVarint(tmp, head, crc >>> 0);
  }
  tmp[head++] = 0x12;
  head = writeVarint(tmp, head, len);
  const start = READ_HEADROOM - head;
  tmp.copy(buf, start, 0, head);
  return buf.subarray(start, READ_HEADROOM + len);
}

/**
 * Turns `buf` = [READ_HEADROOM spare bytes][len bytes: consecutive blocks] into a serialized
 * ReadChunkResponse {offset, block_crc32cs, data} in place (no copy of the data). One block is
 * sent in the classic single-block form (`encodeReadFrame`).
 */
export function encodeReadBlocks(buf: Buffer, len: number, offset: number, crcs: readonly number[]): Buffer {
  if (crcs.length === 1) return encodeReadFrame(buf, len, offset, crcs[0]!);
  if (crcs.length > MAX_FRAME_PIECES) throw new Error(`${crcs.length} blocks in one read frame, at most ${MAX_FRAME_PIECES}`);
  let head = 0;
  const tmp = Buffer.allocUnsafe(READ_HEADROOM);
  if (offset > 0) {
    tmp[head++] = 0x08;
    head = writeVarint(tmp, head, offset);
  }
  let packedLen = 0;
  for (const c of crcs) packedLen += varintLength(c >>> 0);
  tmp[head++] = 0x22;
  head = writeVarint(tmp, head, packedLen);
  for (const c of crcs) head = writeVarint(tmp, head, c >>> 0);
  tmp[head++] = 0x12;
  head = writeVarint(tmp, head, len);
  const start = READ_HEADROOM - head;
  tmp.copy(buf, start, 0, head);
  return buf.subarray(start, READ_HEADROOM + len);
}

export const WRITE_CHUNK_PATH = ChunkServiceService.writeChunk.path;
export const encodeWriteRequest = (msg: WriteChunkRequest): Buffer => ChunkServiceService.writeChunk.requestSerialize(msg);
export const decodeWriteResponse = (buf: Buffer): WriteChunkResponse => ChunkServiceService.writeChunk.responseDeserialize(buf);

/** The varint (below 2^53) at `pos` and the position after it; undefined if cut short or longer. */
function readVarint(buf: Buffer, pos: number): [number, number] | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8 && pos < buf.length; i++) {
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 0x80;
  }
  return undefined;
}

const EMPTY = Buffer.alloc(0);

/**
 * Decodes a ReadChunkResponse with `data` as a view of the received message, not a copy (the
 * generated codec copies every byte once more, ~10% of a get's client CPU). Same contract as
 * the generated decoder: unknown fields are skipped, repeated CRCs packed or not; a malformed
 * message throws a one-line Error (grpc-js ends the call with INTERNAL).
 */
export function decodeReadResponse(buf: Buffer): ReadChunkResponse {
  const bad = (why: string): Error => new Error(`ReadChunkResponse ${why}`);
  const msg: ReadChunkResponse = { offset: 0, data: EMPTY, crc32c: 0, blockCrc32cs: [] };
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    if (!tag) throw bad('has a field tag cut short or longer than 53 bits');
    const field = Math.floor(tag[0] / 8);
    const wire = tag[0] & 7;
    pos = tag[1];
    if (wire === 0) {
      const v = readVarint(buf, pos);
      if (!v) throw bad(`field ${field} has a varint cut short or longer than 53 bits`);
      pos = v[1];
      if (field === 1) msg.offset = v[0];
      else if (field === 3) msg.crc32c = v[0] >>> 0;
      else if (field === 4) msg.blockCrc32cs.push(v[0] >>> 0);
    } else if (wire === 2) {
      const len = readVarint(buf, pos);
      if (!len) throw bad(`field ${field} has a length cut short`);
      const end = len[1] + len[0];
      if (end > buf.length) throw bad(`field ${field} runs past the message (${end} > ${buf.length})`);
      if (field === 2) msg.data = buf.subarray(len[1], end);
      else if (field === 4) {
        for (let p = len[1]; p < end; ) {
          const crc = readVarint(buf, p);
          if (!crc || crc[1] > end) throw bad('block_crc32cs runs past its length');
          msg.blockCrc32cs.push(crc[0] >>> 0);
          p = crc[1];
        }
      }
      pos = end;
    } else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else throw bad(`has field ${field} of unsupported wire type ${wire}`);
  }
  if (pos > buf.length) throw bad('ends inside a field');
  return msg;
}

/**
 * A WriteChunk request as a chunkserver receives it: its exact bytes (forwarded downstream
 * unchanged, no re-encode) and what they say, or why they do not decode.
 */
export interface RawWriteRequest {
  raw: Buffer;
  msg: WriteChunkRequest;
  /** Set when the bytes are not a WriteChunkRequest: the write fails with INVALID_ARGUMENT. */
  malformed?: string;
}

/**
 * Decodes a WriteChunk request without throwing. A data frame (nearly every message) is read by
 * hand with `data` as a view of the received bytes: the generated codec copies the field once
 * more (`Buffer.from` of 1 MiB into fresh memory, ~2 ms per MiB on this machine, on every
 * replica). Anything the hand path does not expect (a header, fields it does not know, an odd
 * encoding) goes through the generated codec, so the result is always the codec's.
 */
export function decodeWriteRequest(raw: Buffer): RawWriteRequest {
  const frame = decodeFrameInPlace(raw);
  if (frame) return { raw, msg: { msg: { $case: 'frame', value: frame } } };
  try {
    return { raw, msg: ChunkServiceService.writeChunk.requestDeserialize(raw) };
  } catch (err) {
    return { raw, msg: { msg: undefined }, malformed: (err as Error).message };
  }
}

/**
 * WriteChunkRequest{frame: DataFrame{data = 1, crc32c = 2, piece_crc32cs = 3 (packed or not)}}
 * spanning the whole message, fields in any order, `data` a view of `raw`; undefined for
 * anything else (then the generated codec decides).
 */
function decodeFrameInPlace(raw: Buffer): DataFrame | undefined {
  if (raw[0] !== 0x12) return undefined;
  const head = readVarint(raw, 1);
  if (!head || head[1] + head[0] !== raw.length) return undefined;
  const frame: DataFrame = { data: EMPTY, crc32c: 0, pieceCrc32cs: [] };
  let pos = head[1];
  while (pos < raw.length) {
    const tag = readVarint(raw, pos);
    if (!tag) return undefined;
    const [key, afterTag] = tag;
    const field = key >>> 3;
    const wire = key & 7;
    const value = wire === 0 || wire === 2 ? readVarint(raw, afterTag) : undefined;
    if (!value) return undefined;
    const [v, next] = value;
    if (wire === 0 && field === 2) frame.crc32c = v >>> 0;
    else if (wire === 0 && field === 3) frame.pieceCrc32cs.push(v >>> 0);
    else if (wire === 2 && next + v <= raw.length && field === 1) frame.data = raw.subarray(next, next + v);
    else if (wire === 2 && next + v <= raw.length && field === 3) {
      for (let p = next; p < next + v; ) {
        const crc = readVarint(raw, p);
        if (!crc || crc[1] > next + v) return undefined;
        frame.pieceCrc32cs.push(crc[0] >>> 0);
        p = crc[1];
      }
    } else return undefined;
    pos = wire === 2 ? next + v : next;
  }
  return frame;
}

/**
 * The ChunkService definition a chunkserver serves: WriteChunk requests keep their serialized
 * bytes (a replica forwards a frame downstream unchanged, no re-encode), and ReadChunk
 * responses are frames already serialized by `encodeReadFrame`.
 */
export const rawChunkServiceDefinition = {
  ...ChunkServiceService,
  writeChunk: {
    ...ChunkServiceService.writeChunk,
    requestDeserialize: decodeWriteRequest,
  },
  readChunk: {
    ...ChunkServiceService.readChunk,
    responseSerialize: (frame: Buffer): Buffer => frame,
  },
} satisfies ServiceDefinition;

/**
 * The ChunkService client of the data path (the client library's channels to chunkservers, and a
 * chunkserver's to its peers): ReadChunk responses decoded by `decodeReadResponse`, data as views.
 */
export const DataChunkServiceClient = makeGenericClientConstructor(
  { ...ChunkServiceService, readChunk: { ...ChunkServiceService.readChunk, responseDeserialize: decodeReadResponse } },
  'dfs.v1.ChunkService',
) as unknown as typeof ChunkServiceClient;
