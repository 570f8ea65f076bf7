import { strict as assert } from 'node:assert';
import { checkHistory, type Operation } from './checker.js';

const op = (client: number, o: Operation['op'], key: string, value: string, output: string | undefined, call: number, ret: number): Operation => ({ client, op: o, key, value, output, call, ret });

describe('linearizability checker (Wing-Gong with memoisation, per key)', function () {
  it('accepts a sequential history', () => {
    assert.ok(checkHistory([op(0, 'put', 'x', 'a', undefined, 0, 1), op(0, 'get', 'x', '', 'a', 2, 3), op(0, 'append', 'x', 'b', undefined, 4, 5), op(0, 'get', 'x', '', 'ab', 6, 7)]).ok);
  });

  it('accepts a read concurrent with a write that sees either value', () => {
    const w = op(0, 'put', 'x', 'a', undefined, 0, 10);
    assert.ok(checkHistory([w, op(1, 'get', 'x', '', '', 1, 2)]).ok);
    assert.ok(checkHistory([w, op(1, 'get', 'x', '', 'a', 1, 2)]).ok);
  });

  it('rejects a stale read after a completed write', () => {
    const r = checkHistory([op(0, 'put', 'x', 'a', undefined, 0, 1), op(1, 'get', 'x', '', '', 2, 3)]);
    assert.equal(r.ok, false);
    assert.equal(r.badKey, 'x');
  });

  it('rejects two reads that see the writes in opposite orders', () => {
    const h = [
      op(0, 'append', 'x', 'a', undefined, 0, 100),
      op(1, 'append', 'x', 'b', undefined, 0, 100),
      op(2, 'get', 'x', '', 'ab', 10, 20),
      op(3, 'get', 'x', '', 'ba', 30, 40),
    ];
    assert.equal(checkHistory(h).ok, false);
  });

  it('lets a timed-out write take effect late, or never', () => {
    const lost = op(0, 'put', 'x', 'a', undefined, 0, Infinity);
    assert.ok(checkHistory([lost, op(1, 'get', 'x', '', '', 5, 6), op(1, 'get', 'x', '', 'a', 7, 8)]).ok);
    assert.ok(checkHistory([lost, op(1, 'get', 'x', '', '', 5, 6)]).ok);
    // ...but not un-happen once seen.
    assert.equal(checkHistory([lost, op(1, 'get', 'x', '', 'a', 5, 6), op(1, 'get', 'x', '', '', 7, 8)]).ok, false);
  });

  it('checks keys independently', () => {
    const h = [op(0, 'put', 'x', '1', undefined, 0, 1), op(0, 'put', 'y', '2', undefined, 0, 1), op(1, 'get', 'y', '', '2', 2, 3), op(1, 'get', 'x', '', '', 2, 3)];
    assert.equal(checkHistory(h).badKey, 'x');
  });
});
