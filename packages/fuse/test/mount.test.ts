import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, rename, rmdir, stat, unlink, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isFuseMounted } from '../src/native/mount-table.js';
import { runFsx } from './fsx.js';
import { MountProcess, mountTarget, requireFuse, sh, waitFor } from './mount-harness.js';

const FIXTURE = resolve(__dirname, 'fixtures', 'memory-mount.js');
const DFS_MOUNT = resolve(__dirname, '..', '..', '..', '..', 'scripts', 'dfs-mount');

async function errnoOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'OK';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

describe('a real FUSE mount over the in-memory backend', function () {
  this.timeout(60_000);
  let mount: MountProcess | undefined;
  let local: string;
  let mnt: string;

  before(async () => {
    requireFuse();
    local = mkdtempSync(join(tmpdir(), 'dfs-fuse-local-'));
    mount = await MountProcess.start(process.execPath, [FIXTURE]);
    mnt = mount.mountpoint;
  });

  after(async () => {
    await mount?.stop();
    rmSync(local, { recursive: true, force: true });
  });

  it('coreutils: cp in and out, cat, ls -l, mv, mkdir -p, touch, truncate, rm -r', async () => {
    const src = join(local, 'src.bin');
    const data = randomBytes(3 * 1024 * 1024 + 123);
    writeFileSync(src, data);
    assert.equal((await sh('mkdir', ['-p', join(mnt, 'a/b/c')])).code, 0);
    assert.equal((await sh('cp', [src, join(mnt, 'a/b/c/file.bin')])).code, 0);
    assert.equal((await sh('cp', [join(mnt, 'a/b/c/file.bin'), join(local, 'back.bin')])).code, 0);
    assert.deepEqual(readFileSync(join(local, 'back.bin')), data);

    await writeFile(join(mnt, 'hello.txt'), 'hello world\n');
    assert.equal((await sh('cat', [join(mnt, 'hello.txt')])).stdout, 'hello world\n');

    const ls = await sh('ls', ['-l', join(mnt, 'a/b/c')]);
    assert.match(ls.stdout, /-rw-r--r-- .* 3145851 .* file\.bin/);

    assert.equal((await sh('mv', [join(mnt, 'hello.txt'), join(mnt, 'a/moved.txt')])).code, 0);
    assert.equal(await errnoOf(stat(join(mnt, 'hello.txt'))), 'ENOENT');
    assert.equal(readFileSync(join(mnt, 'a/moved.txt'), 'utf8'), 'hello world\n');

    assert.equal((await sh('touch', [join(mnt, 'a/new')])).code, 0);
    assert.equal((await stat(join(mnt, 'a/new'))).size, 0);
    assert.equal((await sh('touch', ['-d', '2001-02-03 04:05:06Z', join(mnt, 'a/new')])).code, 0);
    assert.equal((await stat(join(mnt, 'a/new'))).mtime.toISOString(), '2001-02-03T04:05:06.000Z');
    assert.equal((await sh('touch', [join(mnt, 'a/new')])).code, 0);
    assert.ok(Math.abs((await stat(join(mnt, 'a/new'))).mtimeMs - Date.now()) < 60_000, 'touch (UTIME_NOW) sets mtime to now');

    assert.equal((await sh('truncate', ['-s', '5', join(mnt, 'a/moved.txt')])).code, 0);
    assert.equal(readFileSync(join(mnt, 'a/moved.txt'), 'utf8'), 'hello');
    assert.equal((await sh('truncate', ['-s', '1M', join(mnt, 'a/new')])).code, 0);
    assert.equal((await stat(join(mnt, 'a/new'))).size, 1024 * 1024);

    assert.equal((await sh('rm', ['-r', join(mnt, 'a')])).code, 0);
    assert.deepEqual(await readdir(mnt), []);
  });

  it('POSIX errors: ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, ENAMETOOLONG', async () => {
    await mkdir(join(mnt, 'e'));
    await writeFile(join(mnt, 'e/f'), 'x');
    assert.equal(await errnoOf(stat(join(mnt, 'nope'))), 'ENOENT');
    assert.equal(await errnoOf(mkdir(join(mnt, 'e'))), 'EEXIST');
    assert.equal(await errnoOf(open(join(mnt, 'e/f'), 'wx')), 'EEXIST');
    assert.equal(await errnoOf(rmdir(join(mnt, 'e'))), 'ENOTEMPTY');
    assert.equal(await errnoOf(unlink(join(mnt, 'e'))), 'EISDIR');
    assert.equal(await errnoOf(open(join(mnt, 'e'), 'w')), 'EISDIR');
    assert.equal(await errnoOf(rmdir(join(mnt, 'e/f'))), 'ENOTDIR');
    assert.equal(await errnoOf(writeFile(join(mnt, 'e/f/g'), 'x')), 'ENOTDIR');
    assert.equal(await errnoOf(writeFile(join(mnt, 'n'.repeat(256)), 'x')), 'ENAMETOOLONG');
    assert.equal(await errnoOf(mkdir(join(mnt, 'n'.repeat(300)))), 'ENAMETOOLONG');
    await sh('rm', ['-r', join(mnt, 'e')]);
  });

  it('rename over an existing file replaces it', async () => {
    await writeFile(join(mnt, 'old'), 'old content');
    await writeFile(join(mnt, 'new'), 'new');
    await rename(join(mnt, 'new'), join(mnt, 'old'));
    assert.equal(await readFile(join(mnt, 'old'), 'utf8'), 'new');
    assert.deepEqual(await readdir(mnt), ['old']);
    await unlink(join(mnt, 'old'));
  });

  it('unlink while open: the open descriptor keeps reading and writing, the name is gone', async () => {
    await writeFile(join(mnt, 'open'), 'still readable');
    const fh = await open(join(mnt, 'open'), 'r+');
    try {
      await unlink(join(mnt, 'open'));
      assert.equal(await errnoOf(stat(join(mnt, 'open'))), 'ENOENT');
      assert.deepEqual(await readdir(mnt), []);
      const buf = Buffer.alloc(100);
      const { bytesRead } = await fh.read(buf, 0, 100, 0);
      assert.equal(buf.subarray(0, bytesRead).toString(), 'still readable');
      await fh.write('S', 0);
    } finally {
      await fh.close();
    }
    await waitFor('the hidden file to go', () => readdirSyncSafe(mnt).length === 0);
  });

  it('a file being written is visible to its own process at once', async () => {
    const fh = await open(join(mnt, 'growing'), 'w');
    try {
      await fh.write(Buffer.alloc(5000, 7));
      assert.equal((await stat(join(mnt, 'growing'))).size, 5000);
      assert.deepEqual(await readFile(join(mnt, 'growing')), Buffer.alloc(5000, 7));
    } finally {
      await fh.close();
    }
    await unlink(join(mnt, 'growing'));
  });

  it('fsx through the kernel: zero mismatches over a fixed seed list', async () => {
    for (const seed of [7, 11, 2024]) {
      const path = join(mnt, `fsx-${seed}`);
      await writeFile(path, '');
      const target = mountTarget(path);
      try {
        const result = await runFsx(seed, target, { ops: 300, maxFileSize: 512 * 1024, maxOpSize: 128 * 1024 });
        assert.equal(result.mismatches, 0, result.reports.join('\n'));
      } finally {
        await target.close();
      }
      await unlink(path);
    }
  });

  it('statfs: df shows the cluster capacity', async () => {
    const df = await sh('df', ['-B1', mnt]);
    assert.match(df.stdout, /dfs:\/\s+214748364800\s/);
  });

  it('dfs-mount --umount stops the server cleanly and removes the mount', async () => {
    await writeFile(join(mnt, 'last'), 'x');
    const res = await sh(DFS_MOUNT, ['--umount', mnt]);
    assert.equal(res.code, 0, res.stderr);
    await waitFor('the server to exit', () => mount!.exited);
    assert.equal(isFuseMounted(mnt), false);
    assert.match(mount!.log, /"msg":"unmounted"/);
  });
});

function readdirSyncSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
