// The FUSE mount against a real cluster: scripts/dfs-mount mounts for real, coreutils and
// an fsx-style exerciser run through the kernel, results are checked with `dfs get` and
// local copies. FUSE must work here (/dev/fuse, libfuse2, fusermount): if it does not,
// these tests fail with the reason rather than skip.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rmdir, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileTarget, runFsx, TestCluster, waitFor } from '@dfs/testkit';
import { DFS_MOUNT, errnoOf, isMounted, Mount, sh } from '../lib/fuse-mount.js';
import { sha256 } from '../lib/files.js';

describe('FUSE mount of a real cluster (scripts/dfs-mount)', function () {
  this.timeout(240_000);
  let cluster: TestCluster | undefined;
  let a: Mount | undefined;
  let b: Mount | undefined;
  let local: string;

  before(async () => {
    if (!existsSync('/dev/fuse')) throw new Error('FUSE is not available here: /dev/fuse is missing (these tests mount for real; they do not skip)');
    local = mkdtempSync(join(tmpdir(), 'dfs-fuse-local-'));
    cluster = await TestCluster.start({ masters: 1, chunkservers: 3, chunkSize: 1024 * 1024 });
    a = await Mount.start(cluster);
    b = await Mount.start(cluster);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await cluster?.stop();
    if (local) rmSync(local, { recursive: true, force: true });
  });

  it('coreutils through the mount agree with dfs get and with a local copy', async () => {
    const m = a!;
    const data = randomBytes(5 * 1024 * 1024 + 4321); // several 1 MiB chunks
    const src = join(local, 'src.bin');
    writeFileSync(src, data);

    assert.equal((await sh('mkdir', ['-p', m.path('proj/deep/er')])).code, 0);
    const cpIn = await sh('cp', [src, m.path('proj/deep/er/data.bin')]);
    assert.equal(cpIn.code, 0, cpIn.stderr);
    const got = await cluster!.dfs(['get', '/proj/deep/er/data.bin', join(local, 'via-get.bin')]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(sha256(readFileSync(join(local, 'via-get.bin'))), sha256(data), 'dfs get sees what cp wrote');

    const cpOut = await sh('cp', [m.path('proj/deep/er/data.bin'), join(local, 'via-cp.bin')]);
    assert.equal(cpOut.code, 0, cpOut.stderr);
    assert.equal(sha256(readFileSync(join(local, 'via-cp.bin'))), sha256(data));

    const put = await cluster!.dfs(['put', '-q', src, '/proj/put.bin']);
    assert.equal(put.code, 0, put.stderr);
    assert.equal((await sh('cmp', [src, m.path('proj/put.bin')])).code, 0, 'a file put by the CLI reads back through the mount');
    await writeFile(m.path('proj/hello.txt'), 'hello\n');
    assert.equal((await sh('cat', [m.path('proj/hello.txt'), m.path('proj/hello.txt')])).stdout, 'hello\nhello\n');

    const ls = await sh('ls', ['-l', m.path('proj')]);
    assert.match(ls.stdout, /^d.* deep$/m);
    assert.match(ls.stdout, new RegExp(`^-rw-r--r-- .* ${data.length} .* put\\.bin$`, 'm'));

    assert.equal((await sh('mv', [m.path('proj/put.bin'), m.path('proj/deep/moved.bin')])).code, 0);
    assert.equal((await cluster!.client().tryStat('/proj/put.bin')), null);
    assert.equal((await cluster!.client().stat('/proj/deep/moved.bin')).size, data.length);

    assert.equal((await sh('touch', [m.path('proj/empty')])).code, 0);
    assert.equal((await cluster!.client().stat('/proj/empty')).size, 0);

    assert.equal((await sh('truncate', ['-s', '1000000', m.path('proj/deep/moved.bin')])).code, 0);
    const truncated = await cluster!.dfs(['get', '/proj/deep/moved.bin', join(local, 'trunc.bin')]);
    assert.equal(truncated.code, 0, truncated.stderr);
    assert.deepEqual(readFileSync(join(local, 'trunc.bin')), data.subarray(0, 1_000_000));
    assert.equal((await sh('truncate', ['-s', '2M', m.path('proj/empty')])).code, 0);
    assert.equal((await cluster!.client().stat('/proj/empty')).size, 2 * 1024 * 1024);

    assert.equal((await sh('rm', ['-r', m.path('proj')])).code, 0);
    assert.equal(await cluster!.client().tryStat('/proj'), null);
  });

  it('fsx through the mount: zero mismatches over a fixed seed list', async () => {
    const m = a!;
    for (const seed of [1, 7, 2024]) {
      const path = m.path(`fsx-${seed}`);
      await writeFile(path, '');
      const target = fileTarget(path);
      let expected: Buffer;
      try {
        const result = await runFsx(seed, target, { ops: 150, maxFileSize: 3 * 1024 * 1024, maxOpSize: 256 * 1024 });
        assert.equal(result.mismatches, 0, result.reports.join('\n'));
        expected = result.expected;
      } finally {
        await target.close();
      }
      assert.deepEqual(await readFile(path), expected, `seed ${seed}: the committed file is what fsx wrote`);
      const viaGet = await cluster!.dfs(['get', `/fsx-${seed}`, join(local, `fsx-${seed}`)]);
      assert.equal(viaGet.code, 0, viaGet.stderr);
      assert.deepEqual(readFileSync(join(local, `fsx-${seed}`)), await readFile(path), 'dfs get agrees with the mount');
      await unlink(path);
    }
  });

  it('parallel writers and readers: 6 concurrent cp in, then 6 concurrent cp out, all intact', async () => {
    const m = a!;
    const files = Array.from({ length: 6 }, (_, i) => ({ name: `par-${i}.bin`, data: randomBytes(1024 * 1024 + 1000 * i) }));
    for (const f of files) writeFileSync(join(local, f.name), f.data);
    await mkdir(m.path('par'));
    const ins = await Promise.all(files.map((f) => sh('cp', [join(local, f.name), m.path(`par/${f.name}`)])));
    for (const r of ins) assert.equal(r.code, 0, r.stderr);
    const outs = await Promise.all(files.map((f) => sh('cp', [m.path(`par/${f.name}`), join(local, `${f.name}.out`)])));
    for (const r of outs) assert.equal(r.code, 0, r.stderr);
    for (const f of files) {
      assert.equal(sha256(readFileSync(join(local, `${f.name}.out`))), sha256(f.data), f.name);
      assert.equal(sha256(await cluster!.client().readFile(`/par/${f.name}`)), sha256(f.data), `${f.name} via the client`);
    }
    assert.equal((await sh('rm', ['-r', m.path('par')])).code, 0);
  });

  it('POSIX errors: ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, ENAMETOOLONG', async () => {
    const m = a!;
    await mkdir(m.path('e'));
    await writeFile(m.path('e/f'), 'x');
    assert.equal(await errnoOf(stat(m.path('missing'))), 'ENOENT');
    assert.equal(await errnoOf(readFile(m.path('missing'))), 'ENOENT');
    assert.equal(await errnoOf(mkdir(m.path('e'))), 'EEXIST');
    assert.equal(await errnoOf(open(m.path('e/f'), 'wx')), 'EEXIST');
    assert.equal(await errnoOf(rmdir(m.path('e'))), 'ENOTEMPTY');
    assert.equal(await errnoOf(unlink(m.path('e'))), 'EISDIR');
    assert.equal(await errnoOf(open(m.path('e'), 'w')), 'EISDIR');
    assert.equal(await errnoOf(rmdir(m.path('e/f'))), 'ENOTDIR');
    assert.equal(await errnoOf(writeFile(m.path('e/f/g'), 'x')), 'ENOTDIR');
    assert.equal(await errnoOf(writeFile(m.path('n'.repeat(256)), 'x')), 'ENAMETOOLONG');
    assert.equal(await errnoOf(mkdir(m.path('n'.repeat(300)))), 'ENAMETOOLONG');
    await sh('rm', ['-r', m.path('e')]);
  });

  it('a directory snapshot reads through the mount at DIR/.snapshot/NAME, unchanged by later writes, and refuses writes', async () => {
    const m = a!;
    const client = cluster!.client();
    await mkdir(m.path('snapfs'));
    await writeFile(m.path('snapfs/f'), 'before');
    await client.snapshot('allow', '/snapfs');
    await client.snapshot('create', '/snapfs', { name: 's1' });
    await writeFile(m.path('snapfs/f'), 'after, and longer');
    // The same inode id in the live tree and the snapshot: neither read is served the other's bytes.
    assert.equal(await readFile(m.path('snapfs/f'), 'utf8'), 'after, and longer');
    assert.equal(await readFile(m.path('snapfs/.snapshot/s1/f'), 'utf8'), 'before');
    assert.equal((await stat(m.path('snapfs/.snapshot/s1/f'))).size, 6);
    await unlink(m.path('snapfs/f'));
    assert.deepEqual(await readdir(m.path('snapfs/.snapshot')), ['s1']);
    assert.deepEqual(await readdir(m.path('snapfs/.snapshot/s1')), ['f']);
    assert.equal(await readFile(m.path('snapfs/.snapshot/s1/f'), 'utf8'), 'before');
    assert.notEqual(await errnoOf(writeFile(m.path('snapfs/.snapshot/s1/x'), 'x')), 'OK');
    assert.notEqual(await errnoOf(unlink(m.path('snapfs/.snapshot/s1/f'))), 'OK');
    assert.equal(await readFile(m.path('snapfs/.snapshot/s1/f'), 'utf8'), 'before');
    await client.snapshot('delete', '/snapfs', { name: 's1' });
    await client.snapshot('disallow', '/snapfs');
    await sh('rm', ['-r', m.path('snapfs')]);
  });

  it('rename over an existing file replaces it, for this mount and for the cluster', async () => {
    const m = a!;
    await writeFile(m.path('target'), 'old content, longer');
    await writeFile(m.path('incoming'), 'new');
    await rename(m.path('incoming'), m.path('target'));
    assert.equal(await readFile(m.path('target'), 'utf8'), 'new');
    assert.equal((await cluster!.client().readFile('/target')).toString(), 'new');
    assert.equal(await cluster!.client().tryStat('/incoming'), null);
    await unlink(m.path('target'));
  });

  it('chmod, touch -d and cp -p through the mount persist on the master: every client and a remount see them', async () => {
    const m = a!;
    const T1 = 981_173_106; // 2001-02-03 04:05:06 UTC, as seconds (no time zone involved)
    const T2 = 1_234_567_890;
    assert.equal((await sh('mkdir', ['-p', m.path('attrs')])).code, 0);
    await writeFile(m.path('attrs/f.txt'), 'attributes\n');
    assert.equal((await sh('chmod', ['640', m.path('attrs/f.txt')])).code, 0);
    assert.equal((await sh('touch', ['-d', `@${T1}`, m.path('attrs/f.txt')])).code, 0);
    const src = join(local, 'cp-p-src.txt');
    writeFileSync(src, 'copied with -p\n');
    assert.equal((await sh('chmod', ['600', src])).code, 0);
    assert.equal((await sh('touch', ['-d', `@${T2}`, src])).code, 0); // atime = mtime (see the fuse README caveat)
    const cp = await sh('cp', ['-p', src, m.path('attrs/copy.txt')]);
    assert.equal(cp.code, 0, cp.stderr);

    const onMaster = async (p: string): Promise<[number, number]> => {
      const s = await cluster!.client().stat(p);
      return [s.mode & 0o7777, s.mtimeMs];
    };
    assert.deepEqual(await onMaster('/attrs/f.txt'), [0o640, T1 * 1000]);
    assert.deepEqual(await onMaster('/attrs/copy.txt'), [0o600, T2 * 1000]);
    const seen = async (mount: Mount, p: string): Promise<[number, number]> => {
      const st = await stat(mount.path(p));
      return [st.mode & 0o7777, st.mtimeMs];
    };
    assert.deepEqual(await seen(b!, 'attrs/f.txt'), [0o640, T1 * 1000], 'the other mount sees them');
    await m.stop();
    a = await Mount.start(cluster!);
    assert.deepEqual(await seen(a, 'attrs/f.txt'), [0o640, T1 * 1000], 'after a remount');
    assert.deepEqual(await seen(a, 'attrs/copy.txt'), [0o600, T2 * 1000]);
  });

  it('a mount with a user token acts as that user: new files are its own, the master refuses the rest (EACCES)', async () => {
    const token = (await cluster!.dfs(['admin', 'token', 'create', '--user', 'alice'])).stdout.trim().split('\n').pop()!;
    assert.equal((await cluster!.dfs(['mkdir', '-p', '/alice-home'])).code, 0);
    assert.equal((await cluster!.dfs(['chown', 'alice:alice', '/alice-home'])).code, 0);
    const m = await Mount.start(cluster!, ['--token', token]);
    try {
      await writeFile(m.path('alice-home/mine.txt'), 'mine\n');
      const s = await cluster!.client().stat('/alice-home/mine.txt');
      assert.deepEqual([s.owner, s.group], ['alice', 'alice']);
      assert.equal(await errnoOf(writeFile(m.path('not-hers.txt'), 'x')), 'EACCES');
      assert.equal(await errnoOf(mkdir(m.path('attrs/nope'))), 'EACCES');
      assert.equal((await cluster!.client().tryStat('/not-hers.txt')), null);
    } finally {
      await m.stop();
    }
  });

  it('unlink while open: the descriptor keeps working, the file is gone from the cluster', async () => {
    const m = a!;
    await writeFile(m.path('doomed'), 'still readable after unlink');
    const fh = await open(m.path('doomed'), 'r+');
    try {
      await unlink(m.path('doomed'));
      assert.equal(await errnoOf(stat(m.path('doomed'))), 'ENOENT');
      assert.equal(await cluster!.client().tryStat('/doomed'), null);
      const buf = Buffer.alloc(100);
      const { bytesRead } = await fh.read(buf, 0, 100, 0);
      assert.equal(buf.subarray(0, bytesRead).toString(), 'still readable after unlink');
      await fh.write('S', 0);
    } finally {
      await fh.close();
    }
    await waitFor('no hidden file left', async () => (await readdir(m.dir)).every((n) => !n.startsWith('.fuse_hidden')));
    assert.deepEqual((await cluster!.dfs(['ls', '/'])).stdout.includes('fuse_hidden'), false);
  });

  it('two mounts: a file closed in one is seen whole in the other; never a mix', async () => {
    const v1 = Buffer.alloc(3 * 1024 * 1024, 0x11);
    const v2 = Buffer.alloc(2 * 1024 * 1024 + 5, 0x22);
    await writeFile(a!.path('shared.bin'), v1);
    // Close-to-open: b opens after a's close and must see v1 whole.
    assert.deepEqual(await readFile(b!.path('shared.bin')), v1);

    // While a writes v2 (not closed yet), b still sees v1 whole.
    const fh = await open(a!.path('shared.bin'), 'w');
    await fh.write(v2.subarray(0, 1024 * 1024));
    assert.deepEqual(await readFile(b!.path('shared.bin')), v1);
    await fh.write(v2.subarray(1024 * 1024), 0, v2.length - 1024 * 1024, 1024 * 1024);
    await fh.close();
    assert.deepEqual(await readFile(b!.path('shared.bin')), v2);

    // A new file created in b appears in a's listing within the metadata TTL.
    await writeFile(b!.path('from-b'), 'hello from b');
    await waitFor('a to list from-b', async () => (await readdir(a!.dir)).includes('from-b'), 10_000);
    assert.equal(await readFile(a!.path('from-b'), 'utf8'), 'hello from b');
    await unlink(a!.path('shared.bin'));
    await unlink(a!.path('from-b'));
  });

  it('--daemon mounts in the background and --umount unmounts it cleanly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-fuse-daemon-'));
    try {
      const up = await sh(DFS_MOUNT, ['--daemon', '--masters', cluster!.masterList, '--tls-dir', cluster!.info.tls!.client, '--log', join(local, 'daemon.log'), dir]);
      assert.equal(up.code, 0, up.stderr);
      assert.match(up.stdout, /^mounted dfs:\/ on /);
      assert.ok(isMounted(dir));
      await writeFile(join(dir, 'daemon-file'), 'd');
      const down = await sh(DFS_MOUNT, ['--umount', dir]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(isMounted(dir), false);
      assert.match(readFileSync(join(local, 'daemon.log'), 'utf8'), /"msg":"unmounted"/);
      assert.equal((await cluster!.client().readFile('/daemon-file')).toString(), 'd');
    } finally {
      if (isMounted(dir)) await sh('fusermount', ['-uz', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('dfs mount --daemon and dfs umount do the same through the CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-fuse-cli-'));
    try {
      const up = await cluster!.dfs(['mount', '--daemon', '--log', join(local, 'cli-mount.log'), dir]);
      assert.equal(up.code, 0, up.stderr);
      assert.ok(isMounted(dir));
      await writeFile(join(dir, 'cli-mounted'), 'via dfs mount');
      const down = await cluster!.dfs(['umount', dir]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(isMounted(dir), false);
      assert.equal((await cluster!.dfs(['cat', '/cli-mounted'])).stdout, 'via dfs mount');
    } finally {
      if (isMounted(dir)) await sh('fusermount', ['-uz', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a mount of REMOTE_DIR shows that directory at its root (with --no-write-behind)', async () => {
    await cluster!.client().mkdir('/sub/dir', { parents: true });
    await cluster!.dfs(['put', '-', '/sub/dir/inside.txt'], { input: 'inside' });
    const m = await Mount.start(cluster!, ['--no-write-behind', '/sub']);
    try {
      assert.deepEqual(await readdir(m.dir), ['dir']);
      assert.equal(await readFile(m.path('dir/inside.txt'), 'utf8'), 'inside');
      await writeFile(m.path('dir/new.txt'), 'new');
      assert.equal((await cluster!.client().readFile('/sub/dir/new.txt')).toString(), 'new');
      // Streamed while written: several chunks, then a non-sequential rewrite (falls back).
      const data = randomBytes(3 * 1024 * 1024 + 99);
      writeFileSync(join(local, 'wb.bin'), data);
      assert.equal((await sh('cp', [join(local, 'wb.bin'), m.path('dir/wb.bin')])).code, 0);
      assert.equal(sha256(await cluster!.client().readFile('/sub/dir/wb.bin')), sha256(data));
      const fh = await open(m.path('dir/wb2.bin'), 'w');
      await fh.write(data, 0, 2 * 1024 * 1024, 0);
      await fh.write(Buffer.from('XY'), 0, 2, 10);
      await fh.close();
      const expected = Buffer.from(data.subarray(0, 2 * 1024 * 1024));
      expected.write('XY', 10);
      assert.equal(sha256(await cluster!.client().readFile('/sub/dir/wb2.bin')), sha256(expected));
    } finally {
      await m.stop();
    }
  });

  it('unmount lets open descriptors finish: a close in the grace period commits, a file left open is not published', async () => {
    const m = await Mount.start(cluster!, ['--grace', '4s']);
    let done: FileHandle | undefined;
    let left: FileHandle | undefined;
    try {
      done = await open(m.path('finished-late'), 'w');
      left = await open(m.path('left-open'), 'w');
      await done.write('before unmount; ');
      await left.write('never closed');
      m.terminate();
      await waitFor('the lazy unmount', () => !isMounted(m.dir), 10_000);
      await done.write('after unmount');
      await done.close();
      done = undefined;
      await waitFor('the server to exit after the grace period', () => m.exited, 30_000);
      assert.equal((await cluster!.client().readFile('/finished-late')).toString(), 'before unmount; after unmount');
      assert.equal(await cluster!.client().tryStat('/left-open'), null, 'a file still open for writing is not published');
      assert.match(m.log, /not committed; their content was kept/);
    } finally {
      await done?.close().catch(() => undefined);
      await left?.close().catch(() => undefined);
      await m.stop();
      const rescue = /"rescueDir":"([^"]+)"/.exec(m.log)?.[1];
      if (rescue) rmSync(rescue, { recursive: true, force: true });
    }
  });

  it('an acknowledged close survives SIGKILL of the mount, then of a chunkserver: an inline-sized file and a written-behind one', async () => {
    const m = await Mount.start(cluster!);
    const small = randomBytes(1024); // in-memory spool: one inline create at close
    const big = randomBytes(3 * 1024 * 1024 + 777); // written sequentially: uploaded chunk by chunk while written
    try {
      await writeFile(m.path('durable-small'), small);
      await writeFile(m.path('durable-big'), big);
      await m.kill(); // right after the closes returned
    } finally {
      await m.stop();
    }
    const cs = cluster!.info.chunkservers[0]!.id;
    await cluster!.kill(cs);
    try {
      const client = cluster!.client();
      assert.equal(sha256(await client.readFile('/durable-small')), sha256(small));
      assert.equal(sha256(await client.readFile('/durable-big')), sha256(big));
    } finally {
      cluster!.restart(cs);
    }
  });

  it('an unreachable cluster answers EIO; SIGTERM still unmounts cleanly', async () => {
    // EIO first (the mount stays up while the master is gone), then SIGTERM cleans up.
    await cluster!.kill('m1');
    assert.equal(await errnoOf(stat(b!.path('never-seen'))), 'EIO');
    assert.equal(await errnoOf(readdir(b!.path('nowhere'))), 'EIO');
    await b!.stop();
    assert.equal(isMounted(b!.dir), false);
    assert.match(b!.log, /"msg":"unmounted"/);
    b = undefined;
  });
});
