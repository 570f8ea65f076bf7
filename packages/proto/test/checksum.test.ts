import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32cOf } from '../src/index.js';

describe('checksums', () => {
  it('computes the standard CRC32C check value', () => {
    // The CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720, B.4).
    assert.equal(crc32cOf(Buffer.from('123456789')), 0xe3069283);
  });

  it('continues a CRC across pieces', () => {
    const data = randomBytes(1000);
    assert.equal(crc32cOf(data.subarray(500), crc32cOf(data.subarray(0, 500))), crc32cOf(data));
  });
});
