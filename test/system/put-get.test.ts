import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MAX_INLINE_BYTES } from '@dfs/proto';
import { TestCluster, waitFor } from '@dfs/testkit';
import { sha256File, writeRandomFile } from '../lib/files.js';

const CHUNK = 256 * 1024;

describe('walking skeleton: put and get through a real cluster', function () {
  let cluster: TestCluster;
  let work: string;

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 4, chunkSize: CHUNK });
    work = mkdtempSync(join(tmpdir(), 'dfs-putget-'));
  });

  after(async function () {
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const sizes: Array<[string, number]> = [
    ['empty', 0],
    ['one byte', 1],
    ['chunk-1', CHUNK - 1],
    ['exactly one chunk', CHUNK],
    ['chunk+1', CHUNK + 1],
    ['5 chunks + 17', 5 * CHUNK + 17],
  ];

  for (const [label, size] of sizes) {
    it(`round-trips a ${label} file (${size} bytes) byte for byte via the dfs CLI`, async function () {
      const local = join(work, `in-${size}`);
      const back = join(work, `out-${size}`);
      const digest = writeRandomFile(local, size);
      const put = await cluster.dfs(['put', local, `/skeleton/f-${size}`, '--quiet']);
      assert.equal(put.code, 0, put.stderr);
      const get = await cluster.dfs(['get', `/skeleton/f-${size}`, back, '--quiet']);
      assert.equal(get.code, 0, get.stderr);
      assert.equal(await sha256File(back), digest);

      const client = cluster.client();
      const { file, chunks } = await client.locate(`/skeleton/f-${size}`);
      assert.equal(file.size, size);
      // Files of at most MAX_INLINE_BYTES live in the metadata: no chunk.
      assert.equal(chunks.length, size <= MAX_INLINE_BYTES ? 0 : Math.ceil(size / CHUNK));
      for (const chunk of chunks) {
        const ids = new Set(chunk.replicas.map((r) => r.id));
        assert.equal(ids.size, 3, `chunk ${chunk.handle} has replicas on ${[...ids].join(',')}`);
      }
    });
  }

  it('lists what was put and reports a missing file with exit code 3', async function () {
    const ls = await cluster.dfs(['ls', '/skeleton']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(ls.stdout.trim().split('\n').sort(), sizes.map(([, s]) => `f-${s}`).sort());
    const missing = await cluster.dfs(['get', '/skeleton/nope', join(work, 'nope')]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /^dfs: .*nope/);
    assert.ok(!missing.stderr.includes('    at '), 'no stack trace');
  });

  it('accepts one AbortSignal for a many-chunk put and get without a listener-leak warning', async function () {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const client = cluster.client();
      const controller = new AbortController();
      const local = join(work, 'signal.bin');
      const digest = writeRandomFile(local, 12 * CHUNK + 3);
      await client.put(local, '/skeleton/signal', { signal: controller.signal });
      const back = join(work, 'signal.back');
      await client.get('/skeleton/signal', back, { signal: controller.signal });
      assert.equal(await sha256File(back), digest);
      await new Promise((r) => setImmediate(r));
      assert.ok(!warnings.includes('MaxListenersExceededWarning'), warnings.join(', '));
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('streams a put from stdin and a get to stdout through the library', async function () {
    const client = cluster.client();
    const { Readable } = await import('node:stream');
    const payload = Buffer.alloc(3 * CHUNK + 5, 7);
    await client.put(Readable.from([payload.subarray(0, 1000), payload.subarray(1000)]), '/skeleton/stream');
    const back = await client.readFile('/skeleton/stream');
    assert.ok(back.equals(payload));
  });

  it('a file of at most MAX_INLINE_BYTES is kept inline (no chunk); appends rewrite it, inline while it fits, then in chunks; inlineSmallFiles: false writes chunks', async function () {
    const client = cluster.client();
    try {
      const small = Buffer.alloc(1024, 'inline;');
      await client.put(small, '/skeleton/inline');
      const located = await client.locate('/skeleton/inline');
      assert.deepEqual(located.chunks, []);
      assert.ok(located.inline?.equals(small), 'GetFile carries the bytes');
      assert.ok((await client.readFile('/skeleton/inline')).equals(small));
      const range: Buffer[] = [];
      for await (const b of client.readChunks('/skeleton/inline', { start: 10, end: 19 })) range.push(b);
      assert.ok(Buffer.concat(range).equals(small.subarray(10, 20)), 'a range of an inline file');
      // A stream that ends within the limit is inline too; one byte more is not.
      await client.put(Readable.from([Buffer.alloc(MAX_INLINE_BYTES, 1)]), '/skeleton/inline-max');
      assert.ok((await client.locate('/skeleton/inline-max')).inline);
      await client.put(Readable.from([Buffer.alloc(MAX_INLINE_BYTES, 1), Buffer.from([2])]), '/skeleton/chunked');
      const chunked = await client.locate('/skeleton/chunked');
      assert.equal(chunked.inline, undefined);
      assert.equal(chunked.chunks.length, 1);
      const tail = Buffer.alloc(100, 'a');
      await client.append(tail, '/skeleton/inline');
      assert.ok((await client.locate('/skeleton/inline')).inline, 'still fits');
      const big = Buffer.alloc(2 * MAX_INLINE_BYTES, 'b');
      await client.append(big, '/skeleton/inline');
      const grown = await client.locate('/skeleton/inline');
      assert.equal(grown.inline, undefined, 'outgrew the limit: chunks now');
      assert.ok((await client.readFile('/skeleton/inline')).equals(Buffer.concat([small, tail, big])));
      const chunky = cluster.client({ inlineSmallFiles: false });
      await chunky.put(small, '/skeleton/not-inline');
      const notInline = await chunky.locate('/skeleton/not-inline');
      assert.equal(notInline.inline, undefined);
      assert.equal(notInline.chunks.length, 1);
    } finally {
      client.close();
    }
  });

  it('putGrowingFile uploads a local file while it is written, each chunk once final; the file appears only when done, an abandoned one never', async function () {
    const client = cluster.client();
    try {
      const local = join(work, 'growing.bin');
      const data = randomBytes(3 * CHUNK + 1234);
      writeFileSync(local, Buffer.alloc(0));
      let final = 0;
      let ended = false;
      let asked = 0;
      let waiters: Array<{ end: number; resolve: (n: number) => void }> = [];
      const settle = (): void => {
        waiters = waiters.filter((w) => {
          if (final >= w.end || ended) w.resolve(Math.min(final, w.end));
          return !(final >= w.end || ended);
        });
      };
      const growing = {
        final: (end: number) => new Promise<number>((resolve) => {
          asked = Math.max(asked, end);
          waiters.push({ end, resolve });
          settle();
        }),
      };
      const result = client.putGrowingFile(local, '/skeleton/growing', growing);
      for (let pos = 0; pos < data.length; pos += 100_000) {
        appendFileSync(local, data.subarray(pos, pos + 100_000));
        final = Math.min(data.length, pos + 100_000);
        settle();
      }
      // The first three chunks are final: the upload asks about the fourth, and the file is not visible yet.
      await waitFor('the upload to reach the last chunk', () => asked >= 4 * CHUNK, 30_000);
      assert.equal(await client.tryStat('/skeleton/growing'), null, 'not visible before the writer is done');
      ended = true;
      settle();
      assert.equal((await result).size, data.length);
      assert.ok((await client.readFile('/skeleton/growing')).equals(data));

      // A writer that gives up: the upload fails and leaves no file.
      const abandoned = client.putGrowingFile(local, '/skeleton/abandoned', { final: (end: number) => (end <= CHUNK ? Promise.resolve(end) : Promise.reject(new Error('writer gave up'))) });
      await assert.rejects(abandoned);
      assert.equal(await client.tryStat('/skeleton/abandoned'), null);

      // statWithInline: the bytes of an inline file come with its stat; none for a chunked one.
      const small = Buffer.from('inline bytes with the stat');
      await client.put(small, '/skeleton/stat-inline');
      assert.ok((await client.statWithInline('/skeleton/stat-inline'))?.inline?.equals(small));
      const chunked = await client.statWithInline('/skeleton/growing');
      assert.equal(chunked?.file.size, data.length);
      assert.equal(chunked?.inline, undefined);
      assert.equal(await client.statWithInline('/skeleton/none'), null);
    } finally {
      client.close();
    }
  });

  it('the umask applies to inline and chunked files alike; an append keeps the file\'s own mode', async function () {
    const client = cluster.client({ umask: 0o077 });
    try {
      await client.put(Buffer.alloc(100, 1), '/umask/small');
      await client.put(Buffer.alloc(MAX_INLINE_BYTES + 1, 1), '/umask/large');
      assert.equal((await client.stat('/umask/small')).mode & 0o777, 0o600, 'inline file');
      assert.equal((await client.stat('/umask/large')).mode & 0o777, 0o600, 'chunked file');
      await client.setAttributes('/umask/small', { mode: 0o664 });
      await client.append(Buffer.alloc(10, 2), '/umask/small'); // an inline rewrite
      assert.equal((await client.stat('/umask/small')).mode & 0o777, 0o664, 'not masked again by the rewrite');
    } finally {
      client.close();
    }
  });
});
