import assert from 'node:assert/strict';
import { AppliedWaiters } from '../../src/state/applied-waiters.js';

describe('AppliedWaiters', () => {
  it('wakes a waiter on the apply that reaches its index, not before', async () => {
    const waiters = new AppliedWaiters();
    let applied = 3;
    const woken: number[] = [];
    const five = waiters.wait(5, 10_000, () => applied).then((r) => (woken.push(5), r));
    const seven = waiters.wait(7, 10_000, () => applied).then((r) => (woken.push(7), r));
    applied = 4;
    waiters.advanced(applied);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(woken, []);
    applied = 6;
    waiters.advanced(applied);
    assert.equal(await five, true);
    assert.deepEqual(woken, [5]);
    applied = 9; // a batch (or a restored snapshot) may jump past an index
    waiters.advanced(applied);
    assert.equal(await seven, true);
  });

  it('answers at once when the index is already applied, and false once the wait runs out', async () => {
    const waiters = new AppliedWaiters();
    assert.equal(await waiters.wait(2, 0, () => 2), true);
    const started = Date.now();
    assert.equal(await waiters.wait(3, 50, () => 2), false);
    assert.ok(Date.now() - started >= 45);
  });
});
