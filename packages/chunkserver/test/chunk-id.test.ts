import assert from 'node:assert/strict';
import { ErrorCode, DfsError } from '@dfs/proto';
import { parseChunkId } from '../src/index.js';
import { checkHandle, handleStem } from '../src/chunk-id.js';

describe('chunk ids', () => {
  it('parses canonical decimal ids', () => {
    assert.equal(parseChunkId('1'), 1);
    assert.equal(parseChunkId('123456789'), 123456789);
    assert.equal(parseChunkId(String(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
  });

  for (const bad of ['', '0', '01', '-1', '+1', ' 1', '1 ', '1.0', '1e3', '0x10', '../1', '1/2', '..', 'abc', '1\0', '１']) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseChunkId(bad), (e: unknown) => DfsError.is(e, ErrorCode.INVALID_ARGUMENT));
    });
  }

  it('rejects ids above 2^64-1 and above what a JS number holds exactly', () => {
    assert.throws(() => parseChunkId('18446744073709551616'), /larger than 2\^64-1/);
    assert.throws(() => parseChunkId('99999999999999999999999'), /invalid chunk id/);
    assert.throws(() => parseChunkId('18446744073709551615'), /2\^53-1/);
    assert.throws(() => parseChunkId(String(Number.MAX_SAFE_INTEGER + 1)), /2\^53-1/);
  });

  it('validates numeric handles before they become file names', () => {
    assert.equal(handleStem(42), '42');
    for (const bad of [0, -1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER + 1]) {
      assert.throws(() => checkHandle(bad), (e: unknown) => DfsError.is(e, ErrorCode.INVALID_ARGUMENT));
    }
    assert.throws(() => checkHandle('7' as unknown));
  });
});
