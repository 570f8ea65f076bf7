import type { ServiceDefinition } from '@grpc/grpc-js';
import { ChunkServiceService, type WriteChunkRequest, type WriteChunkResponse, type ReadChunkResponse } from '@dfs/proto';

/*
 * Zero-copy variations of the generated ChunkService definition, for the data path:
 * - WriteChunk requests keep their serialized bytes next to the decoded message, so a
 *   replica forwards a data frame downstream as the exact bytes it received (no re-encode).
 * - ReadChunk responses are serialized by us: each block is read from disk straight into a
 *   buffer with headroom for the protobuf field headers (see `encodeReadFrame`).
 * The bytes on the wire are exactly those of the .proto contract.
 */

export interface RawWriteRequest {
  raw: Buffer;
  msg: WriteChunkRequest;
}

export const WRITE_CHUNK_PATH = ChunkServiceService.writeChunk.path;

export const encodeWriteRequest = (msg: WriteChunkRequest): Buffer => ChunkServiceService.writeChunk.requestSerialize(msg);
export const decodeWriteResponse = (buf: Buffer): WriteChunkResponse => ChunkServiceService.writeChunk.responseDeserialize(buf);
export const decodeReadResponse = (buf: Buffer): ReadChunkResponse => ChunkServiceService.readChunk.responseDeserialize(buf);

export const chunkServiceDefinition = {
  ...ChunkServiceService,
  writeChunk: {
    ...ChunkServiceService.writeChunk,
    requestDeserialize: (raw: Buffer): RawWriteRequest => ({ raw, msg: ChunkServiceService.writeChunk.requestDeserialize(raw) }),
  },
  readChunk: {
    ...ChunkServiceService.readChunk,
    responseSerialize: (frame: Buffer): Buffer => frame,
  },
} satisfies ServiceDefinition;

/** Room kept in front of each block read from disk for the ReadChunkResponse field headers. */
export const READ_HEADROOM = 32;

/**
 * Turns `buf` = [READ_HEADROOM spare bytes][len bytes of block data] into a serialized
 * ReadChunkResponse {offset, crc32c, data} by writing the field headers just before the data.
 * Fields: 1 offset (varint), 3 crc32c (varint), 2 data (length-delimited). Returns the message.
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

function writeVarint(buf: Buffer, pos: number, value: number): number {
  let v = value;
  while (v >= 0x80) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}
