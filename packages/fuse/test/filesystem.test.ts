import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { DfsError, ErrorCode } from '@dfs/proto';
import { S_IFDIR, S_IFREG } from '../src/fs/attrs.js';
import { errnoName } from '../src/fs/errno.js';
import type { DfsFileSystem } from '../src/fs/filesystem.js';
import { FakeClock, makeFs, readAll, rejectsWith, writeAll, type Harness } from './helpers.js';
import { MemoryBackend, MemoryBackendWithAttributes } from './memory-backend.js';

describe('DfsFileSystem', () => {
  let backend: MemoryBackend;
  let h: Harness;
  beforeEach(() => {
    backend = new MemoryBackend();
    h = makeFs(backend);
  });
  afterEach(() => h.cleanup());

  describe('spooling and commit', () => {
    it('a created file is visible to this mount at once and to the cluster only after flush', async () => {
      const fd = await h.fs.create('/a.txt', 0o600);
      await writeAll(h.fs, fd, Buffer.from('hello'));
      const attr = await h.fs.getattr('/a.txt');
      assert.equal(attr.size, 5);
      assert.equal(attr.mode, S_IFREG | 0o600);
      assert.deepEqual(await h.fs.readdir('/'), ['.', '..', 'a.txt']);
      assert.equal(backend.exists('/a.txt'), false, 'nothing is committed before flush');
      await h.fs.flush(fd);
      assert.equal(backend.bytes('/a.txt')?.toString(), 'hello');
      await h.fs.release(fd);
      assert.equal((await h.fs.getattr('/a.txt')).size, 5);
    });

    it('a small file stays in memory: no spool file, and its commit hands the bytes over (one inline put)', async () => {
      const data = randomBytes(1024);
      const fd = await h.fs.create('/small', 0o644);
      await writeAll(h.fs, fd, data);
      assert.deepEqual(readdirSync(h.spoolDir), [], 'no local file for a 1 KiB spool');
      assert.deepEqual(await readAll(h.fs, fd, 2048), data);
      await h.fs.release(fd);
      assert.equal(backend.calls.bufferPuts, 1);
      assert.deepEqual(backend.bytes('/small'), data);
    });

    it('a spool that outgrows memory moves to a local file with its holes and truncates intact', async () => {
      await h.cleanup();
      h = makeFs(backend, { spoolMemoryBytes: 16 });
      const fd = await h.fs.create('/grow', 0o644);
      await writeAll(h.fs, fd, Buffer.from('abcdef'), 0);
      await h.fs.ftruncate(fd, 2); // drops 'cdef': a later grow reads zeros there
      await writeAll(h.fs, fd, Buffer.from('xy'), 10);
      assert.deepEqual(readdirSync(h.spoolDir), []);
      await writeAll(h.fs, fd, Buffer.from('12345678'), 20); // 28 bytes > 16: spills
      assert.equal(readdirSync(h.spoolDir).length, 1);
      const want = Buffer.concat([Buffer.from('ab'), Buffer.alloc(8), Buffer.from('xy'), Buffer.alloc(8), Buffer.from('12345678')]);
      assert.deepEqual(await readAll(h.fs, fd, 64), want);
      await h.fs.release(fd);
      assert.equal(backend.calls.bufferPuts, 0, 'a large spool is uploaded from its file');
      assert.deepEqual(backend.bytes('/grow'), want);
      assert.deepEqual(readdirSync(h.spoolDir), [], 'the spool file goes at release');
    });

    it('an empty created file is committed on close (touch)', async () => {
      const fd = await h.fs.create('/empty', 0o644);
      await h.fs.flush(fd);
      await h.fs.release(fd);
      assert.equal(backend.bytes('/empty')?.length, 0);
    });

    it('writes at any offset leave zeros in the gap and keep the old bytes', async () => {
      backend.putBytes('/f', Buffer.from('0123456789'));
      const fd = await h.fs.open('/f');
      await writeAll(h.fs, fd, Buffer.from('AB'), 3);
      await writeAll(h.fs, fd, Buffer.from('Z'), 14);
      assert.equal((await h.fs.getattr('/f')).size, 15);
      await h.fs.release(fd);
      assert.deepEqual(backend.bytes('/f'), Buffer.concat([Buffer.from('012AB56789'), Buffer.alloc(4), Buffer.from('Z')]));
    });

    it('truncate to zero downloads nothing; a shrinking truncate downloads only the kept prefix', async () => {
      backend.putBytes('/big', randomBytes(50_000));
      const before = backend.bytes('/big')!;
      const fd = await h.fs.open('/big');
      await h.fs.ftruncate(fd, 0);
      assert.equal(backend.calls.bytesRead, 0);
      await h.fs.release(fd);
      assert.equal(backend.bytes('/big')?.length, 0);

      backend.putBytes('/big2', before);
      await h.fs.truncate('/big2', 1234);
      assert.equal(backend.calls.bytesRead, 1234);
      assert.deepEqual(backend.bytes('/big2'), before.subarray(0, 1234));
    });

    it('truncate grows a file with zeros', async () => {
      backend.putBytes('/g', Buffer.from('abc'));
      await h.fs.truncate('/g', 6);
      assert.deepEqual(backend.bytes('/g'), Buffer.from('abc\0\0\0'));
    });

    it('another mount sees the old version until close, then the new one whole', async () => {
      backend.putBytes('/shared', Buffer.alloc(10_000, 1));
      const other = makeFs(backend, { attrTtlMs: 0 });
      try {
        const fd = await h.fs.open('/shared');
        await writeAll(h.fs, fd, Buffer.alloc(20_000, 2));
        const rfd = await other.fs.open('/shared');
        assert.deepEqual(await readAll(other.fs, rfd, 10_000), Buffer.alloc(10_000, 1));
        await other.fs.release(rfd);
        await h.fs.release(fd);
        const rfd2 = await other.fs.open('/shared');
        assert.deepEqual(await readAll(other.fs, rfd2, 20_000), Buffer.alloc(20_000, 2));
        await other.fs.release(rfd2);
      } finally {
        await other.cleanup();
      }
    });

    it('closing a reader does not commit another handle\'s pending writes; fsync does', async () => {
      const wfd = await h.fs.create('/pending', 0o644);
      await writeAll(h.fs, wfd, Buffer.from('half'));
      const rfd = await h.fs.open('/pending', 0 /* O_RDONLY */);
      assert.equal((await readAll(h.fs, rfd, 4)).toString(), 'half');
      await h.fs.flush(rfd);
      await h.fs.release(rfd);
      assert.equal(backend.exists('/pending'), false);
      await h.fs.fsync(wfd);
      assert.equal(backend.bytes('/pending')?.toString(), 'half');
      await h.fs.release(wfd);
    });

    it('a second flush commits only when something changed', async () => {
      const fd = await h.fs.create('/once', 0o644);
      await writeAll(h.fs, fd, Buffer.from('x'));
      await h.fs.flush(fd);
      await h.fs.flush(fd);
      await h.fs.release(fd);
      assert.equal(backend.calls.put, 1);
    });

    it('a failed commit reports EIO and keeps the data for the next flush', async () => {
      const fd = await h.fs.create('/retry', 0o644);
      await writeAll(h.fs, fd, Buffer.from('data'));
      backend.unavailable = true;
      await rejectsWith(h.fs.flush(fd), 'EIO');
      backend.unavailable = false;
      await h.fs.flush(fd);
      await h.fs.release(fd);
      assert.equal(backend.bytes('/retry')?.toString(), 'data');
    });
  });

  describe('write-behind', () => {
    beforeEach(async () => {
      await h.cleanup();
      // Streams start past the in-memory spool (inline-sized files never stream); 4 bytes here.
      h = makeFs(backend, { writeBehind: true, spoolMemoryBytes: 4 });
    });

    it('a file that stays within the in-memory spool is not streamed: one inline-sized put at close', async () => {
      await h.cleanup();
      h = makeFs(backend, { writeBehind: true });
      const fd = await h.fs.create('/tiny', 0o644);
      for (let pos = 0; pos < 1024; pos += 256) await writeAll(h.fs, fd, Buffer.alloc(256, pos / 256), pos);
      await h.fs.release(fd);
      assert.equal(backend.calls.streamedPuts, 0);
      assert.equal(backend.calls.bufferPuts, 1);
      assert.equal(backend.bytes('/tiny')?.length, 1024);
    });

    it('streams a new file written sequentially; it appears only at close', async () => {
      const data = randomBytes(300_000);
      const fd = await h.fs.create('/stream', 0o644);
      for (let pos = 0; pos < data.length; pos += 65_536) await writeAll(h.fs, fd, data.subarray(pos, pos + 65_536), pos);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(backend.streamedFinal >= 4 * 65_536, `the upload ran while the file was written (final ${backend.streamedFinal})`);
      assert.equal(backend.exists('/stream'), false);
      await h.fs.release(fd);
      assert.equal(backend.calls.streamedPuts, 1);
      assert.equal(backend.calls.put, 1, 'no second, whole-spool upload');
      assert.deepEqual(backend.bytes('/stream'), data);
    });

    it('falls back to a whole upload when a write is not an append, or on a truncate', async () => {
      const fd = await h.fs.create('/seek', 0o644);
      await writeAll(h.fs, fd, Buffer.from('aaaa'), 0);
      await writeAll(h.fs, fd, Buffer.from('bb'), 1);
      await h.fs.release(fd);
      assert.equal(backend.bytes('/seek')?.toString(), 'abba');

      const fd2 = await h.fs.create('/cut', 0o644);
      await writeAll(h.fs, fd2, Buffer.from('123456'), 0);
      await h.fs.ftruncate(fd2, 3);
      await writeAll(h.fs, fd2, Buffer.from('x'), 3);
      await h.fs.release(fd2);
      assert.equal(backend.bytes('/cut')?.toString(), '123x');
    });

    it('a failed stream is retried as a whole upload at commit', async () => {
      backend.failStreamsAfterBytes = 5;
      const fd = await h.fs.create('/flaky', 0o644);
      await writeAll(h.fs, fd, Buffer.from('part one '), 0);
      await writeAll(h.fs, fd, Buffer.from('part two'), 9);
      await h.fs.release(fd);
      assert.equal(backend.calls.streamedPuts, 1);
      assert.equal(backend.calls.put, 2, 'the broken stream, then the whole spool');
      assert.equal(backend.bytes('/flaky')?.toString(), 'part one part two');
    });
  });

  describe('errors', () => {
    it('maps the namespace errors to errnos', async () => {
      await rejectsWith(h.fs.getattr('/missing'), 'ENOENT');
      await rejectsWith(h.fs.open('/missing'), 'ENOENT');
      await h.fs.mkdir('/d', 0o755);
      await rejectsWith(h.fs.mkdir('/d', 0o755), 'EEXIST');
      await rejectsWith(h.fs.mkdir('/no/such/parent', 0o755), 'ENOENT');
      backend.putBytes('/d/f', Buffer.from('x'));
      await rejectsWith(h.fs.rmdir('/d'), 'ENOTEMPTY');
      await rejectsWith(h.fs.unlink('/d'), 'EISDIR');
      await rejectsWith(h.fs.rmdir('/d/f'), 'ENOTDIR');
      await rejectsWith(h.fs.create('/d/f/child', 0o644), 'ENOTDIR');
      await rejectsWith(h.fs.readdir('/d/f'), 'ENOTDIR');
      await rejectsWith(h.fs.getattr(`/${'n'.repeat(256)}`), 'ENAMETOOLONG');
      await rejectsWith(h.fs.create(`/${'n'.repeat(300)}`, 0o644), 'ENAMETOOLONG');
    });

    it('answers EIO when the cluster is unreachable', async () => {
      backend.unavailable = true;
      await rejectsWith(h.fs.getattr('/x'), 'EIO');
      await rejectsWith(h.fs.readdir('/'), 'EIO');
      await rejectsWith(h.fs.statfs(), 'EIO');
    });

    it('rename: over a file replaces it; file over directory EISDIR; directory over file ENOTDIR; over a non-empty directory ENOTEMPTY', async () => {
      backend.putBytes('/src', Buffer.from('new'));
      backend.putBytes('/dst', Buffer.from('old'));
      await h.fs.rename('/src', '/dst');
      assert.equal(backend.bytes('/dst')?.toString(), 'new');
      assert.equal(backend.exists('/src'), false);
      await rejectsWith(h.fs.getattr('/src'), 'ENOENT');

      await h.fs.mkdir('/dir', 0o755);
      await rejectsWith(h.fs.rename('/dst', '/dir'), 'EISDIR');
      await rejectsWith(h.fs.rename('/dir', '/dst'), 'ENOTDIR');
      await h.fs.mkdir('/full', 0o755);
      backend.putBytes('/full/x', Buffer.from('x'));
      await h.fs.mkdir('/dir2', 0o755);
      await rejectsWith(h.fs.rename('/dir2', '/full'), 'ENOTEMPTY');
      await rejectsWith(h.fs.rename('/full', '/full/sub'), 'EINVAL');
      await h.fs.mkdir('/empty', 0o755);
      await h.fs.rename('/full', '/empty');
      assert.equal(backend.bytes('/empty/x')?.toString(), 'x');
    });

    it('rename of a file still being written commits it first and keeps writing under the new name', async () => {
      const fd = await h.fs.create('/tmp1', 0o644);
      await writeAll(h.fs, fd, Buffer.from('abc'));
      await h.fs.rename('/tmp1', '/final');
      assert.equal(backend.bytes('/final')?.toString(), 'abc');
      await writeAll(h.fs, fd, Buffer.from('d'), 3);
      await h.fs.release(fd);
      assert.equal(backend.bytes('/final')?.toString(), 'abcd');
      assert.equal(backend.exists('/tmp1'), false);
    });
  });

  describe('unlink while open', () => {
    it('keeps the content for open handles (libfuse hides the file) and removes it from the cluster', async () => {
      backend.putBytes('/open', Buffer.from('still here'));
      const fd = await h.fs.open('/open');
      await h.fs.rename('/open', '/.fuse_hidden0000000100000001');
      assert.equal(backend.exists('/open'), false);
      await rejectsWith(h.fs.getattr('/open'), 'ENOENT');
      assert.deepEqual(await h.fs.readdir('/'), ['.', '..']);
      assert.equal((await readAll(h.fs, fd, 10)).toString(), 'still here');
      await writeAll(h.fs, fd, Buffer.from('S'));
      await h.fs.release(fd);
      await h.fs.unlink('/.fuse_hidden0000000100000001');
      assert.equal(backend.exists('/open'), false, 'an orphan is never committed');
      assert.equal(backend.exists('/.fuse_hidden0000000100000001'), false);
    });

    it('a created, never committed file that is unlinked leaves nothing behind', async () => {
      const fd = await h.fs.create('/ghost', 0o644);
      await writeAll(h.fs, fd, Buffer.from('boo'));
      await h.fs.unlink('/ghost');
      await h.fs.release(fd);
      assert.equal(backend.exists('/ghost'), false);
    });
  });

  describe('attributes', () => {
    it('keeps chmod and utimens in a local overlay when the backend cannot store them', async () => {
      backend.putBytes('/m', Buffer.from('x'), 0o644);
      await h.fs.chmod('/m', 0o100600);
      await h.fs.utimens('/m', 1_234_000);
      const attr = await h.fs.getattr('/m');
      assert.equal(attr.mode, S_IFREG | 0o600);
      assert.equal(attr.mtimeMs, 1_234_000);
      await h.fs.rename('/m', '/n');
      assert.equal((await h.fs.getattr('/n')).mode, S_IFREG | 0o600);
    });

    it('stores them through setAttributes when the backend has it, after the commit for a file being written', async () => {
      const withAttrs = new MemoryBackendWithAttributes();
      const h2 = makeFs(withAttrs);
      try {
        withAttrs.putBytes('/m', Buffer.from('x'));
        await h2.fs.chmod('/m', 0o640);
        assert.deepEqual(withAttrs.changes, [{ path: '/m', change: { mode: 0o640 } }]);
        const fd = await h2.fs.create('/cp-p', 0o644);
        await writeAll(h2.fs, fd, Buffer.from('y'));
        await h2.fs.utimens('/cp-p', 5_000_000);
        assert.equal(withAttrs.changes.length, 1, 'nothing sent before the commit');
        await h2.fs.release(fd);
        assert.deepEqual(withAttrs.changes[1], { path: '/cp-p', change: { mtimeMs: 5_000_000, atimeMs: 5_000_000 } });
      } finally {
        await h2.cleanup();
      }
    });

    it('directories and files have the right type bits', async () => {
      await h.fs.mkdir('/dir', 0o750);
      assert.equal((await h.fs.getattr('/dir')).mode & S_IFDIR, S_IFDIR);
      assert.equal((await h.fs.getattr('/')).mode & S_IFDIR, S_IFDIR);
    });

    it('statfs reports the live chunkservers raw capacity', async () => {
      const s = await h.fs.statfs();
      assert.equal(s.blocks * s.frsize, 200 * 2 ** 30);
      assert.equal(s.bavail * s.frsize, 140 * 2 ** 30);
      assert.equal(s.namemax, 255);
    });
  });

  describe('metadata cache', () => {
    it('reuses attributes within the TTL, refetches after it, and open always asks the master', async () => {
      const clock = new FakeClock();
      const h2 = makeFs(backend, { attrTtlMs: 1000, now: clock.now });
      try {
        backend.putBytes('/c', Buffer.from('v1'));
        await h2.fs.getattr('/c');
        await h2.fs.getattr('/c');
        assert.equal(backend.calls.tryStat, 1);
        backend.putBytes('/c', Buffer.from('version 2'));
        clock.advance(100);
        assert.equal((await h2.fs.getattr('/c')).size, 2, 'stale within the TTL');
        const fd = await h2.fs.open('/c');
        assert.equal(backend.calls.tryStat, 2);
        assert.equal((await h2.fs.getattr('/c')).size, 9, 'open refreshed the cache');
        await h2.fs.release(fd);
        clock.advance(1001);
        await h2.fs.getattr('/c');
        assert.equal(backend.calls.tryStat, 3);
        const fd2 = await h2.fs.open('/c');
        assert.equal(backend.calls.tryStat, 3, "open reuses the answer of its own lookup (same open(2))");
        await h2.fs.release(fd2);
      } finally {
        await h2.cleanup();
      }
    });

    it('a listing answers the getattr calls of ls -l', async () => {
      await backend.mkdir('/dir', {});
      for (let i = 0; i < 20; i++) backend.putBytes(`/dir/f${i}`, Buffer.from(String(i)));
      await h.fs.readdir('/dir');
      const before = backend.calls.tryStat;
      for (let i = 0; i < 20; i++) await h.fs.getattr(`/dir/f${i}`);
      assert.equal(backend.calls.tryStat, before);
    });

    it('a commit keeps the parent directory\'s cached stat, with the commit\'s time as its mtime (as the master sets it)', async () => {
      const clock = new FakeClock();
      const timed = backend;
      const h2 = makeFs(timed, { attrTtlMs: 1000, now: clock.now });
      try {
        await timed.mkdir('/d', {});
        const before = await h2.fs.getattr('/d');
        const stats = timed.calls.tryStat;
        clock.advance(300);
        const fd = await h2.fs.create('/d/new', 0o644);
        await writeAll(h2.fs, fd, Buffer.from('x'));
        await h2.fs.release(fd);
        const after = await h2.fs.getattr('/d');
        assert.equal(timed.calls.tryStat, stats, 'no stat of the parent after the commit');
        assert.equal(after.mtimeMs, (await timed.tryStat('/d'))!.mtimeMs, 'the master\'s new mtime');
        assert.ok(after.mtimeMs > before.mtimeMs);
        clock.advance(1001);
        await h2.fs.getattr('/d');
        assert.equal(timed.calls.tryStat, stats + 2, 'the kept entry still expires on time (+1 for the tryStat above)');
      } finally {
        await h2.cleanup();
      }
    });

    it('caches negative answers and forgets them when this mount creates the file', async () => {
      await rejectsWith(h.fs.getattr('/later'), 'ENOENT');
      await rejectsWith(h.fs.getattr('/later'), 'ENOENT');
      assert.equal(backend.calls.tryStat, 1);
      const fd = await h.fs.create('/later', 0o644);
      await h.fs.release(fd);
      assert.equal((await h.fs.getattr('/later')).size, 0);
    });
  });

  describe('kernel attribute cache (close-to-open when the kernel caches sizes)', () => {
    let k: Harness;
    let clock: FakeClock;
    beforeEach(() => {
      clock = new FakeClock();
      k = makeFs(backend, { kernelCaches: true, attrTtlMs: 1000, now: clock.now });
    });
    afterEach(() => k.cleanup());

    /** What the kernel does for open(2): look the name up unless cached, open, and on ESTALE look up again and reopen. */
    async function kernelOpen(fs: DfsFileSystem, path: string, cachedDentry: boolean): Promise<{ fd: number; lookups: number }> {
      let lookups = 0;
      if (!cachedDentry) {
        await fs.getattr(path);
        lookups++;
      }
      try {
        return { fd: await fs.open(path), lookups };
      } catch (err) {
        if (errnoName(err) !== 'ESTALE') throw err;
        await fs.getattr(path); // LOOKUP_REVAL
        return { fd: await fs.open(path), lookups: lookups + 1 };
      }
    }

    it('open passes at once when the size the kernel holds is the master\'s', async () => {
      backend.putBytes('/same', Buffer.from('v1'));
      const { fd, lookups } = await kernelOpen(k.fs, '/same', false);
      assert.equal(lookups, 1);
      await k.fs.release(fd);
      const again = await kernelOpen(k.fs, '/same', true);
      assert.equal(again.lookups, 0, 'a cached dentry with the right size needs no second lookup');
      await k.fs.release(again.fd);
    });

    it('another client changed the size: open answers ESTALE once, the lookup refreshes the kernel, the reopen reads the new version whole', async () => {
      backend.putBytes('/grown', Buffer.from('v1'));
      const first = await kernelOpen(k.fs, '/grown', false);
      await k.fs.release(first.fd);
      backend.putBytes('/grown', Buffer.from('version two'));
      clock.advance(100); // past the reuse of the lookup's own answer (25 ms)
      await rejectsWith(k.fs.open('/grown'), 'ESTALE');
      const attr = await k.fs.getattr('/grown');
      assert.equal(attr.size, 11, 'the revalidating lookup reports the size open() just saw');
      const fd = await k.fs.open('/grown');
      assert.equal((await readAll(k.fs, fd, 11)).toString(), 'version two');
      await k.fs.release(fd);
    });

    it('never answers ESTALE twice in a row for a path, even if it changed again in between', async () => {
      backend.putBytes('/racy', Buffer.from('a'));
      await k.fs.getattr('/racy');
      backend.putBytes('/racy', Buffer.from('bb'));
      clock.advance(100);
      await rejectsWith(k.fs.open('/racy'), 'ESTALE');
      backend.putBytes('/racy', Buffer.from('ccc'));
      clock.advance(100);
      const fd = await k.fs.open('/racy'); // the kernel retries once only: this one must pass
      await k.fs.release(fd);
    });

    it('its own writes, renames and unlinks keep the view right: no extra lookups for them', async () => {
      const fd = await k.fs.create('/mine', 0o644);
      await k.fs.getattr('/mine'); // libfuse looks the new file up after create
      await writeAll(k.fs, fd, Buffer.from('written here'));
      await k.fs.release(fd);
      const reopened = await kernelOpen(k.fs, '/mine', true);
      assert.equal(reopened.lookups, 0, 'the kernel saw the writes that made the committed size');
      await k.fs.release(reopened.fd);
      await k.fs.rename('/mine', '/moved');
      const moved = await kernelOpen(k.fs, '/moved', true);
      assert.equal(moved.lookups, 0, 'a rename moves the kernel\'s entry with its size');
      await k.fs.release(moved.fd);
      await k.fs.unlink('/moved');
      backend.putBytes('/moved', Buffer.from('someone else\'s'));
      clock.advance(100);
      await rejectsWith(k.fs.open('/moved'), 'ESTALE'); // nothing known about the new file: look it up
    });

    it('without kernel caching (all timeouts 0) open never answers ESTALE', async () => {
      backend.putBytes('/plain', Buffer.from('v1'));
      await h.fs.getattr('/plain');
      backend.putBytes('/plain', Buffer.from('longer v2'));
      const fd = await h.fs.open('/plain');
      await h.fs.release(fd);
    });
  });

  describe('reads', () => {
    it('reads sequentially with readahead: far fewer fetches than reads', async () => {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      backend.putBytes('/seq', data);
      backend.pieceSize = 64 * 1024;
      const h2 = makeFs(backend, { blockSize: 256 * 1024, readaheadMax: 1024 * 1024 });
      try {
        const fd = await h2.fs.open('/seq');
        const got = await readAll(h2.fs, fd, data.length, 128 * 1024);
        assert.deepEqual(got, data);
        assert.ok(backend.calls.readChunks <= 8, `${backend.calls.readChunks} fetches for 25 reads`);
        await h2.fs.release(fd);
      } finally {
        await h2.cleanup();
      }
    });

    it('serves random reads from the block cache and stays within its bound', async () => {
      const data = randomBytes(2 * 1024 * 1024);
      backend.putBytes('/rand', data);
      const h2 = makeFs(backend, { blockSize: 64 * 1024, cacheBytes: 256 * 1024 });
      try {
        const fd = await h2.fs.open('/rand');
        const out = Buffer.alloc(1000);
        for (const pos of [5000, 1_500_000, 70_000, 5000, 2_000_000]) {
          const n = await h2.fs.read(fd, out, 1000, pos);
          assert.deepEqual(out.subarray(0, n), data.subarray(pos, pos + 1000));
        }
        const fetches = backend.calls.readChunks;
        await h2.fs.read(fd, out, 1000, 5100);
        assert.equal(backend.calls.readChunks, fetches, 'a cached block is not fetched again');
        await h2.fs.release(fd);
      } finally {
        await h2.cleanup();
      }
    });

    it('fails a read with ESTALE rather than mixing versions when the file is replaced while open', async () => {
      backend.putBytes('/v', Buffer.alloc(300_000, 1));
      const h2 = makeFs(backend, { blockSize: 64 * 1024, readaheadMax: 64 * 1024 });
      try {
        const fd = await h2.fs.open('/v');
        const out = Buffer.alloc(1000);
        await h2.fs.read(fd, out, 1000, 0);
        backend.putBytes('/v', Buffer.alloc(300_000, 2));
        await rejectsWith(h2.fs.read(fd, out, 1000, 250_000), 'ESTALE');
        await h2.fs.release(fd);
      } finally {
        await h2.cleanup();
      }
    });

    describe('a sequential reader on one long call', () => {
      const KiB = 1024;
      /** Lets every stream pull what its pacing allows (the memory backend yields on microtasks). */
      const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

      /** Reads [from, to) in 64 KiB reads, as a sequential reader does, each checked against `data`; `after` runs after each. */
      async function readInOrder(fs: DfsFileSystem, fd: number, data: Buffer, from: number, to: number, after?: (end: number) => Promise<void>): Promise<void> {
        const out = Buffer.alloc(64 * KiB);
        for (let pos = from; pos < to; pos += 64 * KiB) {
          const n = await fs.read(fd, out, 64 * KiB, pos);
          assert.deepEqual(out.subarray(0, n), data.subarray(pos, pos + 64 * KiB));
          await after?.(pos + n);
        }
      }

      it('is served by one call once its window has grown, paced a window ahead, each byte fetched once', async () => {
        const data = randomBytes(4 * 1024 * KiB + 123);
        backend.putBytes('/long', data);
        backend.pieceSize = 16 * KiB;
        const h2 = makeFs(backend, { blockSize: 64 * KiB, readaheadMax: 256 * KiB });
        try {
          const fd = await h2.fs.open('/long');
          await readInOrder(h2.fs, fd, data, 0, data.length, async (end) => {
            await settle();
            // Allowed through the block holding end + window, plus the one piece that found it so.
            const bound = (Math.floor((end + 256 * KiB - 1) / (64 * KiB)) + 1) * 64 * KiB + 16 * KiB;
            assert.ok(backend.calls.bytesRead <= bound, `fetched ${backend.calls.bytesRead} bytes with the reader at ${end} (bound ${bound})`);
          });
          assert.equal(backend.calls.bytesRead, data.length, 'no byte fetched twice');
          assert.ok(backend.calls.readChunks <= 4, `${backend.calls.readChunks} calls for 66 reads (three fetches while the window grows, then one)`);
          await h2.fs.release(fd);
        } finally {
          await h2.cleanup();
        }
      });

      it('is not started with readahead off (--readahead 0): each read fetches only its own blocks', async () => {
        const data = randomBytes(2 * 1024 * KiB);
        backend.putBytes('/noahead', data);
        const h2 = makeFs(backend, { blockSize: 64 * KiB, readaheadMax: 0 });
        try {
          const fd = await h2.fs.open('/noahead');
          await readInOrder(h2.fs, fd, data, 0, 512 * KiB);
          await settle();
          assert.equal(backend.calls.bytesRead, 512 * KiB);
          assert.equal(backend.readsOpen, 0);
          await h2.fs.release(fd);
        } finally {
          await h2.cleanup();
        }
      });

      it('is cancelled when the handle is closed', async () => {
        const data = randomBytes(4 * 1024 * KiB);
        backend.putBytes('/closed', data);
        const h2 = makeFs(backend, { blockSize: 64 * KiB, readaheadMax: 256 * KiB });
        try {
          const fd = await h2.fs.open('/closed');
          await readInOrder(h2.fs, fd, data, 0, 512 * KiB);
          await settle();
          assert.equal(backend.readsOpen, 1, 'the long call runs, held by its pacing');
          await h2.fs.release(fd);
          await settle();
          assert.equal(backend.readsOpen, 0);
          assert.ok(backend.calls.bytesRead < 1024 * KiB, `${backend.calls.bytesRead} bytes fetched`);
        } finally {
          await h2.cleanup();
        }
      });

      /** Grows a handle's window with three 64 KiB reads: blocks 0-3 come from fetches, the stream starts at block 4. */
      async function growWindow(h2: Harness, path: string, data: Buffer, held: Promise<void>): Promise<number> {
        const fd = await h2.fs.open(path);
        await readInOrder(h2.fs, fd, data, 0, 128 * KiB);
        backend.readHook = () => held; // the stream the next read starts is held
        await readInOrder(h2.fs, fd, data, 128 * KiB, 192 * KiB);
        backend.readHook = undefined;
        return fd;
      }

      it('stopped by a read elsewhere, still delivers the block a read waits on, and only that', async () => {
        const data = randomBytes(4 * 1024 * KiB);
        backend.putBytes('/jump', data);
        backend.pieceSize = 64 * KiB;
        const h2 = makeFs(backend, { blockSize: 64 * KiB, readaheadMax: 256 * KiB });
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        try {
          const fd = await growWindow(h2, '/jump', data, held);
          const waiting = Buffer.alloc(64 * KiB);
          const r1 = h2.fs.read(fd, waiting, 64 * KiB, 192 * KiB); // block 3 is there; asks the stream for more
          assert.equal(await r1, 64 * KiB);
          const r2 = h2.fs.read(fd, waiting, 64 * KiB, 256 * KiB); // block 4: the held stream's first
          await settle();
          const before = backend.calls.bytesRead;
          const far = Buffer.alloc(1000);
          assert.equal(await h2.fs.read(fd, far, 1000, 3 * 1024 * KiB), 1000); // not sequential: stops the stream
          assert.deepEqual(far, data.subarray(3 * 1024 * KiB, 3 * 1024 * KiB + 1000));
          assert.equal(await r2, 64 * KiB);
          assert.deepEqual(waiting, data.subarray(256 * KiB, 320 * KiB));
          assert.equal(backend.calls.bytesRead - before, 2 * 64 * KiB, 'block 4 again, and the far block; not the stream\'s other blocks');
          release();
          await settle();
          assert.equal(backend.readsOpen, 0, 'the stopped stream finished');
          await h2.fs.release(fd);
        } finally {
          release();
          await h2.cleanup();
        }
      });

      it('that fails after the file was replaced answers ESTALE', async () => {
        const data = randomBytes(4 * 1024 * KiB);
        backend.putBytes('/gone', data);
        backend.pieceSize = 64 * KiB;
        const h2 = makeFs(backend, { blockSize: 64 * KiB, readaheadMax: 256 * KiB });
        let fail!: (err: Error) => void;
        const held = new Promise<void>((_, reject) => (fail = reject));
        held.catch(() => undefined);
        try {
          const fd = await growWindow(h2, '/gone', data, held);
          const out = Buffer.alloc(64 * KiB);
          await h2.fs.read(fd, out, 64 * KiB, 192 * KiB);
          const r = h2.fs.read(fd, out, 64 * KiB, 256 * KiB);
          backend.putBytes('/gone', randomBytes(1000));
          fail(new DfsError(ErrorCode.NOT_FOUND, 'chunk 7 not found'));
          await rejectsWith(r, 'ESTALE');
          await h2.fs.release(fd);
        } finally {
          await h2.cleanup();
        }
      });
    });

    it('a one-block file is read with one fetch and no extra stat, and still never mixes versions', async () => {
      const v1 = randomBytes(10_000); // over the inline limit: its bytes are fetched, not carried by the stat
      backend.putBytes('/small', v1);
      const fd = await h.fs.open('/small');
      const stats = backend.calls.tryStat;
      assert.deepEqual(await readAll(h.fs, fd, 20_000), v1);
      assert.equal(backend.calls.tryStat, stats, 'no version check stat for a one-block file');
      await h.fs.release(fd);

      backend.putBytes('/small2', randomBytes(5000));
      const fd2 = await h.fs.open('/small2');
      backend.putBytes('/small2', randomBytes(6000));
      await rejectsWith(h.fs.read(fd2, Buffer.alloc(100), 100, 0), 'ESTALE');
      await h.fs.release(fd2);
    });

    it('a file kept inline: open\'s one stat carries its bytes, reads make no call, and serve the opened version whole', async () => {
      const clock = new FakeClock();
      await h.cleanup();
      h = makeFs(backend, { now: clock.now });
      backend.putBytes('/tiny', Buffer.from('v1 content'));
      const before = { ...backend.calls };
      const fd = await h.fs.open('/tiny');
      assert.equal((await readAll(h.fs, fd, 100)).toString(), 'v1 content');
      assert.equal(backend.calls.tryStat - before.tryStat, 1, 'one master call for open + read');
      assert.equal(backend.calls.readChunks, before.readChunks, 'no fetch');
      // Replaced by another client after the open: this handle still reads v1, whole (close-to-open).
      backend.putBytes('/tiny', Buffer.from('v2, longer content'));
      assert.equal((await readAll(h.fs, fd, 100)).toString(), 'v1 content');
      await h.fs.release(fd);
      clock.advance(1000); // past the reuse of a lookup's answer by its open (OPEN_REUSE_MS)
      // The next open asks the master again and sees v2.
      const fd2 = await h.fs.open('/tiny');
      assert.equal((await readAll(h.fs, fd2, 100)).toString(), 'v2, longer content');
      await h.fs.release(fd2);
      // A write to it starts from the carried bytes (no fetch either).
      const fd3 = await h.fs.open('/tiny');
      await writeAll(h.fs, fd3, Buffer.from('V'), 0);
      await h.fs.release(fd3);
      assert.equal(backend.bytes('/tiny')?.toString(), 'V2, longer content');
      assert.equal(backend.calls.readChunks, before.readChunks);
    });

    it('a file kept inline is one call for open + read with --attr-ttl 0 too (the bytes go with the answer, not the cache)', async () => {
      await h.cleanup();
      h = makeFs(backend, { attrTtlMs: 0 });
      backend.putBytes('/tiny0', Buffer.from('no cache'));
      const before = { ...backend.calls };
      const fd = await h.fs.open('/tiny0');
      assert.equal((await readAll(h.fs, fd, 100)).toString(), 'no cache');
      assert.equal(backend.calls.tryStat - before.tryStat, 1);
      assert.equal(backend.calls.readChunks, before.readChunks);
      await h.fs.release(fd);
    });

    it('reads past the end return 0', async () => {
      backend.putBytes('/short', Buffer.from('abc'));
      const fd = await h.fs.open('/short');
      assert.equal(await h.fs.read(fd, Buffer.alloc(10), 10, 3), 0);
      assert.equal(await h.fs.read(fd, Buffer.alloc(10), 10, 100), 0);
      await h.fs.release(fd);
    });
  });
});
