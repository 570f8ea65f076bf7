import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { DfsError, ErrorCode } from '@dfs/proto';
import type { GrowingFile } from '../src/fs/backend.js';
import { UploadThread } from '../src/fs/upload-thread.js';

const FAKE_WORKER = join(__dirname, 'fixtures', 'fake-upload-worker.js');

/** A spool the test writes to by hand: final(end) waits until [0, end) is written or writing ended. */
class HandGrowingFile implements GrowingFile {
  written = 0;
  ended = false;
  abandoned: Error | undefined;
  asked: number[] = [];
  private waiters: Array<() => boolean> = [];

  final(end: number): Promise<number> {
    this.asked.push(end);
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.abandoned) reject(this.abandoned);
        else if (this.written >= end) resolve(end);
        else if (this.ended) resolve(this.written);
        else return false;
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }

  write(bytes: number, end = false): void {
    this.written += bytes;
    this.ended ||= end;
    this.waiters = this.waiters.filter((w) => !w());
  }

  abandon(err: Error): void {
    this.abandoned = err;
    this.waiters = this.waiters.filter((w) => !w());
  }
}

async function rejectsWithCode(work: Promise<unknown>, code: ErrorCode, text?: RegExp): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(err instanceof DfsError, `a DfsError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (text) assert.match(err.message, text);
    return true;
  });
}

describe('UploadThread (write-behind uploads on a worker thread)', () => {
  let thread: UploadThread;
  beforeEach(() => {
    thread = new UploadThread({}, FAKE_WORKER);
  });
  afterEach(() => thread.close());

  it('feeds the thread what the writer has made final, as it does, and returns its status', async () => {
    const a = new HandGrowingFile();
    const b = new HandGrowingFile();
    const putA = thread.putGrowingFile('/spool/a', '/a', a, { overwrite: true, mode: 0o640 });
    const putB = thread.putGrowingFile('/spool/b', '/b', b, {});
    a.write(2500);
    b.write(999, true);
    a.write(100, true);
    const [statusA, statusB] = await Promise.all([putA, putB]);
    assert.deepEqual([statusA.path, statusA.size, statusA.mode], ['/a', 2600, 0o640]);
    assert.deepEqual([statusB.path, statusB.size], ['/b', 999]);
    assert.deepEqual(a.asked, [1000, 2000, 3000]);
  });

  it('carries a failure back with its code', async () => {
    await rejectsWithCode(thread.putGrowingFile('/spool/f', '/full', new HandGrowingFile(), {}), ErrorCode.NO_SPACE, /no chunkserver has room/);
  });

  it('tells the thread when the writer gives up, and the upload fails', async () => {
    const g = new HandGrowingFile();
    const put = thread.putGrowingFile('/spool/g', '/g', g, {});
    g.write(1500);
    g.abandon(new Error('not written sequentially'));
    await rejectsWithCode(put, ErrorCode.CANCELLED, /not written sequentially/);
  });

  it('fails the uploads of a thread that dies, and the next upload starts a new thread', async () => {
    const g = new HandGrowingFile();
    g.write(5000);
    await rejectsWithCode(thread.putGrowingFile('/spool/d', '/die', g, {}), ErrorCode.UNAVAILABLE, /upload thread stopped/);
    const h = new HandGrowingFile();
    h.write(10, true);
    assert.equal((await thread.putGrowingFile('/spool/h', '/h', h, {})).size, 10);
  });

  it('close fails the uploads still running', async () => {
    const failed = rejectsWithCode(thread.putGrowingFile('/spool/c', '/c', new HandGrowingFile(), {}), ErrorCode.UNAVAILABLE, /closing/);
    await thread.close();
    await failed;
  });
});
