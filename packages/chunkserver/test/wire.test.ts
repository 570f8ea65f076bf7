import assert from 'node:assert/strict';
import { BLOCK_SIZE } from '@dfs/proto';
import { READ_HEADROOM, decodeReadResponse, encodeReadFrame } from '../src/wire.js';
import { seededBytes } from '@dfs/testkit';

describe('wire: hand-encoded ReadChunkResponse', () => {
  for (const [offset, crc, len] of [
    [0, 0, 0],
    [0, 1, 10],
    [BLOCK_SIZE * 1023, 0xffffffff, BLOCK_SIZE],
    [Number.MAX_SAFE_INTEGER - 1, 0x80000000, 3],
  ] as const) {
    it(`decodes as the generated codec does (offset ${offset}, crc ${crc}, ${len} bytes)`, () => {
      const data = seededBytes(len, 7);
      const buf = Buffer.alloc(READ_HEADROOM + len);
      data.copy(buf, READ_HEADROOM);
      const msg = decodeReadResponse(encodeReadFrame(buf, len, offset, crc));
      assert.equal(msg.offset, offset);
      assert.equal(msg.crc32c, crc);
      assert.ok(Buffer.from(msg.data).equals(data));
    });
  }
});
