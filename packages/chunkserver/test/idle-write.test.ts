import assert from 'node:assert/strict';
import { BLOCK_SIZE, ErrorCode, crc32cOf, toDfsError, type WriteChunkResponse } from '@dfs/proto';
import { seededBytes, waitFor } from '@dfs/testkit';
import type { RunningChunkserver } from '../src/index.js';
import { FakeMaster, Fleet, chunkInfo, expectDfsError, header, testToken, tokenMetadata, ref } from './helpers.js';

/** Issue 13, deliverable 8: a write stream that goes quiet is cut off and releases its chunk. */
describe('idle write streams time out on chunkservers', function () {
  this.timeout(60_000);
  const IDLE_MS = 500;
  let master: FakeMaster;
  const fleet = new Fleet();
  let c1: RunningChunkserver;
  let c2: RunningChunkserver;

  before(async () => {
    master = await new FakeMaster().start();
    c1 = await fleet.start({ id: 'c1', masters: [master.address], writeIdleTimeoutMs: IDLE_MS });
    c2 = await fleet.start({ id: 'c2', masters: [master.address], writeIdleTimeoutMs: IDLE_MS });
  });
  after(async () => {
    await fleet.stopAll();
    master.stop();
  });

  /** Opens a WriteChunk stream to c1 (chain c2) and sends `frames` frames, `gapMs` apart, then either ends or goes quiet. */
  function slowWrite(handle: number, frames: number, gapMs: number, end: boolean): { done: Promise<WriteChunkResponse>; sent: Buffer } {
    const block = seededBytes(BLOCK_SIZE, handle);
    const done = new Promise<WriteChunkResponse>((resolve, reject) => {
      const c = fleet.client(c1.address).writeChunk(tokenMetadata(testToken(handle, 1)), (err, r) => (err ? reject(err) : resolve(r)));
      c.on('error', () => undefined);
      c.write({ msg: { $case: 'header', value: header({ handle, chain: [ref(c2)] }) } });
      let n = 0;
      const tick = (): void => {
        if (n < frames) {
          c.write({ msg: { $case: 'frame', value: { data: block, crc32c: crc32cOf(block), pieceCrc32cs: [] } } });
          n++;
          setTimeout(tick, gapMs);
        } else if (end) {
          c.end();
        }
      };
      tick();
    });
    return { done, sent: Buffer.concat(Array.from({ length: frames }, () => block)) };
  }

  it('a writer that goes quiet is cancelled with DEADLINE_EXCEEDED; no replica is left and the chunk is released on every replica', async () => {
    const started = Date.now();
    const { done } = slowWrite(700, 2, 10, false);
    const err = await done.then(
      () => assert.fail('an idle stream was accepted'),
      (e: unknown) => toDfsError(e),
    );
    assert.equal(err.codeName, 'DEADLINE_EXCEEDED', err.message);
    assert.match(err.message, /sent nothing for 500 ms; write cancelled, partial replica discarded/);
    assert.ok(Date.now() - started < 15_000, 'cut off within a bounded time');
    for (const cs of [c1, c2]) await expectDfsError(chunkInfo(fleet.client(cs.address), 700), ErrorCode.UNKNOWN_CHUNK);
    // Released: both replicas report no write in progress any more (the backup hears of the
    // cancellation a moment after the primary answers).
    const heard = master.heartbeats.length;
    await waitFor('c1 and c2 to report no active write', () =>
      ['c1', 'c2'].every((id) => master.heartbeats.slice(heard).some((hb) => hb.id === id && hb.activeWrites === 0)), 10_000);
  });

  it('a slow but steady writer is not idle: frames further apart in total than the timeout still make a replica', async () => {
    const { done, sent } = slowWrite(701, 6, IDLE_MS / 3, true);
    const res = await done;
    assert.equal(res.length, sent.length);
    assert.deepEqual(res.replicas, ['c1', 'c2']);
  });
});
