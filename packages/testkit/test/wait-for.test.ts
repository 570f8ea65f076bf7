import { strict as assert } from 'node:assert';
import { StopWaiting, waitFor } from '../src/index.js';

describe('waitFor(what, check, timeoutMs, intervalMs)', () => {
  it('returns the first truthy value of check, sync or async', async () => {
    let calls = 0;
    assert.equal(await waitFor('the third call', () => (++calls >= 3 ? 'done' : false), 5_000, 1), 'done');
    assert.equal(calls, 3);
    assert.deepEqual(await waitFor('an object', async () => ({ ok: 1 }), 5_000, 1), { ok: 1 });
  });

  it('keeps polling through a check that throws, until it succeeds', async () => {
    let calls = 0;
    const value = await waitFor('a flaky check', () => {
      if (++calls < 3) throw new Error('not yet');
      return calls;
    }, 5_000, 1);
    assert.equal(value, 3);
  });

  it('stops at once on StopWaiting: what it waits for can no longer happen', async () => {
    let calls = 0;
    await assert.rejects(
      waitFor('a process that died', () => {
        calls++;
        throw new StopWaiting('it exited with 1');
      }, 5_000, 1),
      /^Error: it exited with 1$/,
    );
    assert.equal(calls, 1);
  });

  it('times out naming what it waited for and the last error', async () => {
    const started = Date.now();
    await assert.rejects(
      waitFor('the impossible', () => {
        throw new Error('still broken');
      }, 50, 5),
      /timed out after 50 ms waiting for the impossible \(last error: still broken\)/,
    );
    assert.ok(Date.now() - started >= 50, 'it waited the whole deadline');
  });
});
