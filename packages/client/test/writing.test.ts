import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE, ChunkServiceService, crc32cOf } from '@dfs/proto';
import { Framer, encodeFrame } from '../src/chunk-write.js';

describe('write framing', () => {
  it("encodeFrame makes exactly the bytes of the generated codec (frames are never empty)", () => {
    for (const size of [1, 127, 128, 16_383, 16_384, BLOCK_SIZE]) {
      const data = randomBytes(size);
      for (const crc of [0, 1, 0x7f, 0x80, crc32cOf(data), 0xffffffff]) {
        const want = ChunkServiceService.writeChunk.requestSerialize({ msg: { $case: 'frame', value: { data, crc32c: crc } } });
        assert.ok(encodeFrame(data, crc).equals(want), `size ${size} crc ${crc}`);
      }
    }
  });

  it('Framer cuts any sequence of pieces into BLOCK_SIZE blocks and a short tail, in order', () => {
    const data = randomBytes(5 * BLOCK_SIZE + 1234);
    for (const cuts of [[BLOCK_SIZE * 4], [1, 2, 3], [BLOCK_SIZE - 1, 7, 3 * BLOCK_SIZE]]) {
      const framer = new Framer();
      const blocks: Buffer[] = [];
      let off = 0;
      let i = 0;
      while (off < data.length) {
        const n = Math.min(cuts[i++ % cuts.length]!, data.length - off);
        blocks.push(...framer.push(data.subarray(off, off + n)));
        off += n;
      }
      const tail = framer.flush();
      if (tail) blocks.push(tail);
      assert.ok(blocks.slice(0, -1).every((b) => b.length === BLOCK_SIZE));
      assert.ok(Buffer.concat(blocks).equals(data));
    }
  });
});
