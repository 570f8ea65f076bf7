import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE, crc32cCombine, crc32cOf } from '../src/index.js';

describe('checksums', () => {
  it('computes the standard CRC32C check value', () => {
    // The CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720, B.4).
    assert.equal(crc32cOf(Buffer.from('123456789')), 0xe3069283);
  });

  it('continues a CRC across pieces', () => {
    const data = randomBytes(1000);
    assert.equal(crc32cOf(data.subarray(500), crc32cOf(data.subarray(0, 500))), crc32cOf(data));
  });

  it('combines the CRC32Cs of two parts into the CRC32C of their concatenation, for any lengths', () => {
    const data = randomBytes(3 * BLOCK_SIZE + 777);
    for (const cut of [0, 1, 100, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE, data.length - 1, data.length]) {
      const a = data.subarray(0, cut);
      const b = data.subarray(cut);
      assert.equal(crc32cCombine(crc32cOf(a), crc32cOf(b), b.length), crc32cOf(data), `cut at ${cut}`);
    }
  });

  it('folds block CRC32Cs into the CRC32C of a whole 64 MiB chunk', () => {
    const chunk = randomBytes(64 * 1024 * 1024 - 12345);
    let crc = 0;
    for (let off = 0; off < chunk.length; off += BLOCK_SIZE) {
      const block = chunk.subarray(off, Math.min(chunk.length, off + BLOCK_SIZE));
      crc = crc32cCombine(crc, crc32cOf(block), block.length);
    }
    assert.equal(crc, crc32cOf(chunk));
  });
});
