import assert from 'node:assert/strict';
import { Metadata, status } from '@grpc/grpc-js';
import { DfsError, ErrorCode, MAX_ERROR_MESSAGE_BYTES, toDfsError, parseDuration, parseSize } from '../src/index.js';

describe('errors', () => {
  it('round-trips a DfsError through a gRPC service error with the leader hint', () => {
    const se = new DfsError(ErrorCode.NOT_LEADER, 'not the leader', { leader: '127.0.0.1:7002' }).toServiceError();
    const back = toDfsError({ ...se, message: se.details, metadata: se.metadata as Metadata });
    assert.equal(back.code, ErrorCode.NOT_LEADER);
    assert.equal(back.leader, '127.0.0.1:7002');
    assert.equal(back.message, 'not the leader');
  });
  it('maps a bare transport error by its gRPC status', () => {
    const err = Object.assign(new Error('14 UNAVAILABLE: No connection'), { code: status.UNAVAILABLE, details: 'No connection', metadata: new Metadata() });
    assert.equal(toDfsError(err).code, ErrorCode.UNAVAILABLE);
  });
  it('maps ENOSPC to NO_SPACE', () => {
    assert.equal(toDfsError(Object.assign(new Error('full'), { code: 'ENOSPC' })).code, ErrorCode.NO_SPACE);
  });
});

describe('units', () => {
  it('parses durations', () => {
    assert.equal(parseDuration('2s'), 2000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1m'), 60000);
    assert.throws(() => parseDuration('fast'), DfsError);
  });
  it('parses sizes', () => {
    assert.equal(parseSize('1048576'), 1048576);
    assert.equal(parseSize('64MiB'), 64 * 1024 * 1024);
    assert.equal(parseSize('4k'), 4096);
    assert.throws(() => parseSize('-1'), DfsError);
  });
});

describe('error messages on the wire', () => {
  it('are bounded, so an error quoting a 1 MiB caller string still fits in the trailers', () => {
    const se = new DfsError(ErrorCode.PERMISSION_DENIED, `may not speak for ${'x'.repeat(1 << 20)}`).toServiceError();
    assert.ok((se.details ?? '').length <= MAX_ERROR_MESSAGE_BYTES);
    assert.match(se.details ?? '', /^may not speak for x+…$/);
  });
});
