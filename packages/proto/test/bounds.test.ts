import assert from 'node:assert/strict';
import {
  DfsError,
  ErrorCode,
  MAX_CLIENT_ID_BYTES,
  MAX_EXCLUDED_CHUNKSERVERS,
  MAX_NODE_ID_BYTES,
  MAX_PATH_BYTES,
  MAX_REASON_BYTES,
  checkAddress,
  checkBounds,
  checkClientId,
  checkNodeId,
  checkRequestId,
  parseMember,
  parseMembers,
} from '../src/index.js';

function code(fn: () => unknown): ErrorCode | 'none' {
  try {
    fn();
    return 'none';
  } catch (err) {
    assert.ok(err instanceof DfsError, `not a DfsError: ${String(err)}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.code;
  }
}

describe('ids and addresses (the one validator)', () => {
  it('accepts node ids of letters, digits, . _ - up to the limit', () => {
    for (const id of ['m1', 'c-3', 'rack_2.a', 'x'.repeat(MAX_NODE_ID_BYTES)]) assert.equal(checkNodeId(id), id);
  });

  it('refuses empty, long, path-like and control-character node ids', () => {
    for (const id of ['', 'x'.repeat(MAX_NODE_ID_BYTES + 1), '../etc', 'a/b', '-m1', 'm 1', 'm1\n', 'm\u00e91', 42, undefined]) {
      assert.equal(code(() => checkNodeId(id)), ErrorCode.INVALID_ARGUMENT, String(id));
    }
  });

  it('bounds client and request ids; an empty request id means none', () => {
    assert.equal(checkClientId('host-123-abcd'), 'host-123-abcd');
    assert.equal(code(() => checkClientId('c'.repeat(MAX_CLIENT_ID_BYTES + 1))), ErrorCode.INVALID_ARGUMENT);
    assert.equal(code(() => checkClientId('a b')), ErrorCode.INVALID_ARGUMENT);
    assert.equal(checkRequestId(''), '');
    assert.equal(code(() => checkRequestId('r'.repeat(129))), ErrorCode.INVALID_ARGUMENT);
  });

  it('parses addresses and members strictly', () => {
    assert.equal(checkAddress('127.0.0.1:7001'), '127.0.0.1:7001');
    assert.equal(checkAddress('[::1]:7001'), '[::1]:7001');
    for (const a of ['127.0.0.1', ':7001', '127.0.0.1:70000', '127.0.0.1:0', 'a b:1', `${'h'.repeat(300)}:1`]) {
      assert.equal(code(() => checkAddress(a)), ErrorCode.INVALID_ARGUMENT, a);
    }
    assert.equal(checkAddress('127.0.0.1:0', 'listen', { allowPortZero: true }), '127.0.0.1:0');
    assert.deepEqual(parseMember('m1=127.0.0.1:7001'), { id: 'm1', address: '127.0.0.1:7001' });
    assert.deepEqual(parseMembers('m1=127.0.0.1:1, m2=127.0.0.1:2'), [
      { id: 'm1', address: '127.0.0.1:1' },
      { id: 'm2', address: '127.0.0.1:2' },
    ]);
    assert.equal(code(() => parseMembers('m1=127.0.0.1:1,m1=127.0.0.1:2')), ErrorCode.INVALID_ARGUMENT);
    assert.equal(code(() => parseMember('m1:127.0.0.1:1')), ErrorCode.INVALID_ARGUMENT);
  });
});

describe('request bounds', () => {
  it('lets a well-formed request through', () => {
    checkBounds({ path: '/a/b', clientId: 'host-1-ab', index: 3, excludeChunkservers: ['c1', 'c2'], opId: '' });
    checkBounds({ id: 'c1', address: '127.0.0.1:7101', rack: '', replicas: [{ handle: 1, version: 2, length: 3, crc32c: 4 }] });
    checkBounds({ header: { handle: 1, chain: [{ id: 'c2', address: '127.0.0.1:2', rack: 'r1' }], requestId: 'req-1' } });
  });

  const bad: Array<[string, unknown, ErrorCode]> = [
    ['a 1 MiB client id', { clientId: 'c'.repeat(1 << 20) }, ErrorCode.INVALID_ARGUMENT],
    ['a node id with a slash', { id: 'c1/../x' }, ErrorCode.INVALID_ARGUMENT],
    ['a long reason', { chunkserverId: 'c1', reason: 'r'.repeat(MAX_REASON_BYTES + 1) }, ErrorCode.INVALID_ARGUMENT],
    ['a long path', { path: `/${'a'.repeat(MAX_PATH_BYTES)}` }, ErrorCode.NAME_TOO_LONG],
    ['too many exclusions', { excludeChunkservers: Array.from({ length: MAX_EXCLUDED_CHUNKSERVERS + 1 }, (_, i) => `c${i}`) }, ErrorCode.INVALID_ARGUMENT],
    ['a bad id in a list', { replicas: ['c1', 'bad id'] }, ErrorCode.INVALID_ARGUMENT],
    ['a bad nested address', { header: { chain: [{ id: 'c2', address: 'nowhere' }] } }, ErrorCode.INVALID_ARGUMENT],
    ['a huge unknown string', { note: 'x'.repeat(5000) }, ErrorCode.INVALID_ARGUMENT],
    ['a long request id', { requestId: 'r'.repeat(200) }, ErrorCode.INVALID_ARGUMENT],
    ['NaN', { index: Number.NaN }, ErrorCode.INVALID_ARGUMENT],
  ];
  for (const [what, req, want] of bad) {
    it(`refuses ${what} with a typed one-line error`, () => assert.equal(code(() => checkBounds(req)), want));
  }
});
