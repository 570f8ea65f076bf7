import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE, BlockFramer, blockChecksums, crc32cOf } from '../src/index.js';

describe('checksums', () => {
  it('computes the standard CRC32C check value', () => {
    // The CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720, B.4).
    assert.equal(crc32cOf(Buffer.from('123456789')), 0xe3069283);
  });

  it('continues a CRC across pieces', () => {
    const data = randomBytes(1000);
    assert.equal(crc32cOf(data.subarray(500), crc32cOf(data.subarray(0, 500))), crc32cOf(data));
  });

  for (const size of [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE + 17]) {
    it(`frames ${size} bytes fed in odd pieces into aligned blocks`, () => {
      const data = randomBytes(size);
      const framer = new BlockFramer();
      const frames = [];
      for (let off = 0; off < size; off += 7919) frames.push(...framer.push(data.subarray(off, off + 7919)));
      frames.push(...framer.flush());
      assert.equal(frames.length, Math.ceil(size / BLOCK_SIZE));
      assert.deepEqual(Buffer.concat(frames.map((f) => f.data)), data);
      assert.deepEqual(frames.map((f) => f.crc32c), blockChecksums(data));
      for (const f of frames.slice(0, -1)) assert.equal(f.data.length, BLOCK_SIZE);
    });
  }
});
