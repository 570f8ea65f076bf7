import assert from 'node:assert/strict';
import { DfsError, ErrorCode, normalizePath, parentPath, baseName, isSameOrDescendant } from '../src/index.js';

function expectCode(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => err instanceof DfsError && err.code === code);
}

describe('normalizePath', () => {
  it('keeps a normal absolute path', () => assert.equal(normalizePath('/a/b/c'), '/a/b/c'));
  it('collapses repeated slashes and drops a trailing slash', () => assert.equal(normalizePath('//a///b/'), '/a/b'));
  it('drops "." components', () => assert.equal(normalizePath('/a/./b/.'), '/a/b'));
  it('keeps the root', () => assert.equal(normalizePath('/'), '/'));
  it('rejects ".."', () => expectCode(() => normalizePath('/a/../b'), ErrorCode.INVALID_PATH));
  it('rejects NUL', () => expectCode(() => normalizePath('/a\0b'), ErrorCode.INVALID_PATH));
  it('rejects the empty path', () => expectCode(() => normalizePath(''), ErrorCode.INVALID_PATH));
  it('rejects relative paths', () => expectCode(() => normalizePath('a/b'), ErrorCode.INVALID_PATH));
  it('rejects a name over 255 bytes', () => expectCode(() => normalizePath('/' + 'x'.repeat(256)), ErrorCode.NAME_TOO_LONG));
  it('accepts a name of exactly 255 bytes', () => assert.equal(normalizePath('/' + 'x'.repeat(255)).length, 256));
  it('counts bytes, not characters, for the name limit', () =>
    expectCode(() => normalizePath('/' + 'é'.repeat(128)), ErrorCode.NAME_TOO_LONG));
});

describe('path helpers', () => {
  it('finds parents and base names', () => {
    assert.equal(parentPath('/a/b'), '/a');
    assert.equal(parentPath('/a'), '/');
    assert.equal(baseName('/a/b'), 'b');
  });
  it('knows descendants without confusing prefixes', () => {
    assert.ok(isSameOrDescendant('/a/b', '/a'));
    assert.ok(isSameOrDescendant('/a', '/a'));
    assert.ok(!isSameOrDescendant('/ab', '/a'));
  });
});
