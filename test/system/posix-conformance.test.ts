// POSIX conformance through a real FUSE mount (issue 20): symlinks, hard links, special
// files, ctime, utimensat, umask, set-id bits and the exact errno of each call, walked by a
// helper process (test/lib/posix-ops.ts) as root and as uid/gid 65534 (setpriv), so the
// kernel checks every call against that caller as it would on a local disk. Every rule is
// the master's (state/posix.ts, processor.ts); the mount only translates. In the spirit of
// pjdfstest, our own table: each row is a call and the errno it must give.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileType } from '@dfs/proto';
import { TestCluster, waitFor } from '@dfs/testkit';
import { Mount } from '../lib/fuse-mount.js';
import type { PosixOp, PosixResult, StatView } from '../lib/posix-ops.js';

const HELPER = join(__dirname, '..', 'lib', 'posix-ops.js');
const NOBODY = 65534;

type As = 'root' | 'nobody';
/** [op, args, expected errno or 'OK', optional check of the value, optional umask] */
type Row = [string, Array<string | number>, string, ((v: unknown) => void)?, number?];

function runOps(as: As, ops: PosixOp[]): Promise<PosixResult[]> {
  const [cmd, args] = as === 'root' ? [process.execPath, [HELPER]] : ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, HELPER]];
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args, JSON.stringify(ops)], { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`posix-ops as ${as} failed: ${err.message} ${stderr}`));
      else resolve(JSON.parse(stdout) as PosixResult[]);
    });
  });
}

/** Runs the rows in order as `as`; fails once, listing every row whose result differs. */
async function expectRows(as: As, rows: Row[]): Promise<PosixResult[]> {
  const results = await runOps(as, rows.map(([op, args, , , umask]) => ({ op, args, ...(umask !== undefined ? { umask } : {}) })));
  const wrong: string[] = [];
  rows.forEach(([op, args, want, check], i) => {
    const got = results[i]!;
    const call = `${as}: ${op}(${args.map((a) => (typeof a === 'string' && a.length > 60 ? `${a.slice(0, 20)}…(${a.length})` : JSON.stringify(a))).join(', ')})`;
    if (got.r !== want) wrong.push(`${call} gave ${got.r}, expected ${want}`);
    else if (check) {
      try {
        check(got.v);
      } catch (err) {
        wrong.push(`${call}: ${(err as Error).message}`);
      }
    }
  });
  assert.equal(wrong.length, 0, `${wrong.length} of ${rows.length} calls differ from POSIX:\n  ${wrong.join('\n  ')}`);
  return results;
}

const is = (want: Partial<StatView>) => (v: unknown): void => {
  const got = v as StatView;
  for (const [k, w] of Object.entries(want)) assert.equal(got[k as keyof StatView], w, `${k} is ${String(got[k as keyof StatView])}, expected ${String(w)}`);
};
const equals = (want: unknown) => (v: unknown): void => assert.deepEqual(v, want);

describe('POSIX conformance through a real mount, as root and as an unprivileged uid (issue 20)', function () {
  this.timeout(300_000);
  let cluster: TestCluster | undefined;
  let m: Mount | undefined;
  let outside: string;
  let D: string;
  const at = (p: string): string => `${D}/${p}`;
  const stat = async (p: string): Promise<StatView> => (await runOps('root', [{ op: 'lstat', args: [at(p)] }]))[0]!.v as StatView;

  before(async () => {
    if (!existsSync('/dev/fuse')) throw new Error('FUSE is not available here: /dev/fuse is missing (this test mounts for real; it does not skip)');
    if (process.getuid?.() !== 0) throw new Error('this test switches to uid 65534 with setpriv and makes device nodes: it runs as root');
    outside = mkdtempSync(join(tmpdir(), 'dfs-posix-outside-'));
    cluster = await TestCluster.start({ masters: 1, chunkservers: 3, chunkSize: 1024 * 1024 });
    // allow_other: the unprivileged caller uses the mount root made. Kernel caches off: the
    // kernel caches attributes per name, so another name of a hard link (or a change made
    // as the other user through setpriv's own lookups) would show its old link count or
    // owner until --attr-timeout; strict POSIX needs them at 0 (packages/fuse/README.md).
    m = await Mount.start(cluster, ['--allow-other', '--attr-timeout', '0', '--entry-timeout', '0', '--negative-timeout', '0']);
    D = m.path('c');
    await expectRows('root', [['mkdir', [D, 0o755], 'OK']]);
  });

  after(async () => {
    await m?.stop();
    await cluster?.stop();
    if (outside) rmSync(outside, { recursive: true, force: true });
  });

  it('symbolic links: lstat vs stat, readlink, dangling links, ELOOP, paths through a link; the library and dfs ls -l report them', async () => {
    await expectRows('root', [
      ['write', [at('f'), 'hello'], 'OK'],
      ['symlink', ['f', at('sf')], 'OK'],
      ['lstat', [at('sf')], 'OK', is({ type: 'symlink', size: 1, nlink: 1 })],
      ['stat', [at('sf')], 'OK', is({ type: 'file', size: 5 })],
      ['readlink', [at('sf')], 'OK', equals('f')],
      ['read', [at('sf')], 'OK', equals('hello')],
      ['readlink', [at('f')], 'EINVAL'],
      ['symlink', ['nowhere/at/all', at('dangling')], 'OK'],
      ['lstat', [at('dangling')], 'OK', is({ type: 'symlink' })],
      ['stat', [at('dangling')], 'ENOENT'],
      ['symlink', ['x', at('sf')], 'EEXIST'],
      ['symlink', ['loop2', at('loop1')], 'OK'],
      ['symlink', ['loop1', at('loop2')], 'OK'],
      ['stat', [at('loop1')], 'ELOOP'],
      ['open', [at('sf'), 'O_RDONLY|O_NOFOLLOW'], 'ELOOP'],
      ['mkdir', [at('dir'), 0o755], 'OK'],
      ['symlink', ['dir', at('sd')], 'OK'],
      ['write', [at('sd/x'), 'via link'], 'OK'],
      ['read', [at('dir/x')], 'OK', equals('via link')],
      ['symlink', ['y'.repeat(4096), at('toolong')], 'ENAMETOOLONG'],
      ['unlink', [at('dangling')], 'OK'],
      ['lstat', [at('dangling')], 'ENOENT'],
      ['unlink', [at('sd')], 'OK'],
      ['stat', [at('dir/x')], 'OK', is({ type: 'file' })],
    ]);
    const viaLibrary = await cluster!.client().stat('/c/sf');
    assert.deepEqual([viaLibrary.type, viaLibrary.symlinkTarget], [FileType.SYMLINK, 'f'], 'the library reports the link, it does not follow it');
    const ls = await cluster!.dfs(['ls', '-l', '/c']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^lrwxrwxrwx .* \/c\/sf -> f$/m);
    const cliLink = await cluster!.dfs(['ln', '-s', '../c/f', '/c/cli-sym']);
    assert.equal(cliLink.code, 0, cliLink.stderr);
    await expectRows('root', [
      ['readlink', [at('cli-sym')], 'OK', equals('../c/f')],
      ['read', [at('cli-sym')], 'OK', equals('hello')],
    ]);
    const get = await cluster!.dfs(['get', '/c/sf', join(outside, 'sf')]);
    assert.notEqual(get.code, 0, 'dfs get of a symlink is refused (the CLI does not follow links)');
    assert.match(get.stderr, /symbolic link to f/);
  });

  it('hard links: one inode under two names, link counts, shared content, data kept until the last name goes', async () => {
    const before = Date.now();
    await expectRows('root', [
      ['mkdir', [at('h'), 0o755], 'OK'],
      ['mkdir', [at('h/sub'), 0o755], 'OK'],
      ['write', [at('h/a'), 'first'], 'OK'],
      ['link', [at('h/a'), at('h/sub/b')], 'OK'],
      ['lstat', [at('h/a')], 'OK', is({ nlink: 2 })],
      ['lstat', [at('h/sub/b')], 'OK', is({ nlink: 2, size: 5 })],
      ['read', [at('h/sub/b')], 'OK', equals('first')],
      ['writeAt', [at('h/sub/b'), 'FIRST!', 0], 'OK'],
      ['read', [at('h/a')], 'OK', equals('FIRST!')],
      ['write', [at('h/a'), 'second'], 'OK'],
      ['read', [at('h/sub/b')], 'OK', equals('second')],
      ['link', [at('h/a'), at('h/sub/b')], 'EEXIST'],
      ['link', [at('h/missing'), at('h/c')], 'ENOENT'],
      ['link', [at('h/sub'), at('h/dirlink')], 'EPERM'],
      ['link', [at('h/a'), join(outside, 'x')], 'EXDEV'],
      ['lstat', [at('h')], 'OK', is({ nlink: 3 })], // ".", its name, and sub's ".."
      ['rename', [at('h/a'), at('h/sub/b')], 'OK'], // two names of one file: nothing happens
      ['lstat', [at('h/a')], 'OK', is({ nlink: 2 })],
      ['unlink', [at('h/a')], 'OK'],
      ['lstat', [at('h/a')], 'ENOENT'],
      ['lstat', [at('h/sub/b')], 'OK', is({ nlink: 1, size: 6 })],
      ['read', [at('h/sub/b')], 'OK', equals('second')],
    ]);
    const [a, b] = await runOps('root', [{ op: 'link', args: [at('h/sub/b'), at('h/a2')] }, { op: 'lstat', args: [at('h/a2')] }]);
    assert.equal(a!.r, 'OK');
    const a2 = b!.v as StatView;
    assert.equal(a2.ino, (await stat('h/sub/b')).ino, 'both names report the one inode number');
    assert.ok(a2.ctimeMs >= before, 'link changes the inode (ctime)');
    const lib = await cluster!.client().stat('/c/h/a2');
    assert.deepEqual([lib.nlink, lib.inode], [2, a2.ino]);
    const cli = await cluster!.dfs(['ln', '/c/h/a2', '/c/h/a3']);
    assert.equal(cli.code, 0, cli.stderr);
    // Another client's change: the mount's attribute cache shows it within its TTL (1 s), not at once.
    await waitFor('the mount to show the third link', async () => {
      const [r] = await runOps('root', [{ op: 'lstat', args: [at('h/sub/b')] }]);
      return r!.r === 'OK' && (r!.v as StatView).nlink === 3;
    }, 10_000, 200);
  });

  it('special files: FIFO, socket and device nodes are metadata; the kernel carries a FIFO\'s bytes', async () => {
    await expectRows('root', [
      ['mkdir', [at('sp'), 0o755], 'OK'],
      ['mkfifo', [at('sp/fifo'), 0o640], 'OK'],
      ['lstat', [at('sp/fifo')], 'OK', is({ type: 'fifo', mode: 0o640 })],
      ['fifo-roundtrip', [at('sp/fifo')], 'OK', equals('x')],
      ['mkfifo', [at('sp/fifo'), 0o640], 'EEXIST'],
      ['socket', [at('sp/sock')], 'OK'],
      ['lstat', [at('sp/sock')], 'OK', is({ type: 'socket' })],
      ['mknod', [at('sp/null'), 'c', 1, 3], 'OK'],
      ['lstat', [at('sp/null')], 'OK', is({ type: 'char', rdev: (1 << 8) | 3 })],
      ['mknod', [at('sp/disk'), 'b', 8, 1], 'OK'],
      ['lstat', [at('sp/disk')], 'OK', is({ type: 'block', rdev: (8 << 8) | 1 })],
      ['link', [at('sp/fifo'), at('sp/fifo2')], 'OK'],
      ['lstat', [at('sp/fifo2')], 'OK', is({ type: 'fifo', nlink: 2 })],
      ['rename', [at('sp/disk'), at('sp/disk2')], 'OK'],
      ['unlink', [at('sp/fifo')], 'OK'],
      ['unlink', [at('sp/sock')], 'OK'],
      ['readdir', [at('sp')], 'OK', equals(['disk2', 'fifo2', 'null'])],
    ]);
    assert.equal((await cluster!.client().stat('/c/sp/null')).type, FileType.CHAR_DEVICE);
    await expectRows('root', [['symlink', ['fifo2', at('sp/to-fifo')], 'OK']]);
    // Tools that walk the namespace pass over entries without data: fsck counts no file for
    // them; get -r copies a symlink as a symlink and says what it skipped.
    const fsck = await cluster!.dfs(['fsck', '/c/sp', '--json']);
    assert.equal(fsck.code, 0, fsck.stderr);
    assert.equal((JSON.parse(fsck.stdout) as { files: number; healthy: boolean }).files, 0);
    const get = await cluster!.dfs(['get', '-r', '-q', '/c/sp', join(outside, 'sp')]);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stderr, /skipped \/c\/sp\/null: a special file/);
    await expectRows('root', [['readlink', [join(outside, 'sp', 'to-fifo')], 'OK', equals('fifo2')]]);
  });

  it('errnos: ENAMETOOLONG, ENOTDIR, EISDIR, EEXIST on O_CREAT|O_EXCL, ENOTEMPTY, EINVAL, EXDEV', async () => {
    const long = 'n'.repeat(256);
    await expectRows('root', [
      ['mkdir', [at('e'), 0o755], 'OK'],
      ['write', [at('e/f'), 'x'], 'OK'],
      ['mkdir', [at('e/d'), 0o755], 'OK'],
      ['write', [at('e/d/inside'), 'y'], 'OK'],
      ['open', [at(`e/${long}`), 'O_CREAT|O_WRONLY', 0o644], 'ENAMETOOLONG'],
      ['mkdir', [at(`e/${long}`), 0o755], 'ENAMETOOLONG'],
      ['open', [at('e/' + 'n'.repeat(255)), 'O_CREAT|O_WRONLY', 0o644], 'OK'],
      ['mkdir', [at('e/f/x'), 0o755], 'ENOTDIR'],
      ['lstat', [at('e/f/x')], 'ENOTDIR'],
      ['rmdir', [at('e/f')], 'ENOTDIR'],
      ['open', [at('e/d'), 'O_WRONLY'], 'EISDIR'],
      ['unlink', [at('e/d')], 'EISDIR'],
      ['open', [at('e/f'), 'O_CREAT|O_EXCL|O_WRONLY', 0o644], 'EEXIST'],
      ['mkdir', [at('e/d'), 0o755], 'EEXIST'],
      ['rmdir', [at('e/d')], 'ENOTEMPTY'],
      ['mkdir', [at('e/d2'), 0o755], 'OK'],
      ['rename', [at('e/d2'), at('e/d')], 'ENOTEMPTY'],
      ['rename', [at('e/d'), at('e/d/sub')], 'EINVAL'],
      ['rename', [at('e/f'), join(outside, 'f')], 'EXDEV'],
      ['rmdir', [at('e/missing')], 'ENOENT'],
    ]);
  });

  it('rename: over a file, over an empty directory, across directories, and the type rules', async () => {
    await expectRows('root', [
      ['mkdir', [at('r'), 0o755], 'OK'],
      ['mkdir', [at('r/x'), 0o755], 'OK'],
      ['mkdir', [at('r/y'), 0o755], 'OK'],
      ['write', [at('r/x/src'), 'src'], 'OK'],
      ['write', [at('r/y/dst'), 'dst'], 'OK'],
      ['rename', [at('r/x/src'), at('r/y/dst')], 'OK'],
      ['read', [at('r/y/dst')], 'OK', equals('src')],
      ['lstat', [at('r/x/src')], 'ENOENT'],
      ['mkdir', [at('r/x/dir'), 0o755], 'OK'],
      ['write', [at('r/x/dir/kept'), 'k'], 'OK'],
      ['mkdir', [at('r/y/empty'), 0o755], 'OK'],
      ['rename', [at('r/x/dir'), at('r/y/empty')], 'OK'],
      ['read', [at('r/y/empty/kept')], 'OK', equals('k')],
      ['lstat', [at('r/x')], 'OK', is({ nlink: 2 })],
      ['lstat', [at('r/y')], 'OK', is({ nlink: 3 })],
      ['rename', [at('r/y/dst'), at('r/y/empty')], 'EISDIR'],
      ['rename', [at('r/y/empty'), at('r/y/dst')], 'ENOTDIR'],
      ['rename', [at('r/y/dst'), at('r/x/moved')], 'OK'],
      ['readdir', [at('r/x')], 'OK', equals(['moved'])],
    ]);
  });

  it('times and modes: ctime on chmod, chown, rename, write, truncate and link; utimensat; umask; set-id bits cleared by chown', async () => {
    const PAST = 1_000_000_000_000; // touch -d @1000000000
    await expectRows('root', [
      ['mkdir', [at('t'), 0o755], 'OK'],
      ['write', [at('t/f'), 'data'], 'OK'],
      ['touch', [at('t/f'), '-d', '@1000000000'], 'OK'],
      ['lstat', [at('t/f')], 'OK', is({ mtimeMs: PAST, atimeMs: PAST })],
    ]);
    // Each call below must move ctime forward and leave mtime alone (chmod, chown, rename, link)
    // or move both (write, truncate). Every batch starts after the last one ended.
    const steps: Array<[string, Row, boolean]> = [
      ['chmod', ['chmod', [at('t/f'), 0o600], 'OK'], false],
      ['chown', ['chown', [at('t/f'), NOBODY, NOBODY], 'OK'], false],
      ['rename', ['rename', [at('t/f'), at('t/g')], 'OK'], false],
      ['link', ['link', [at('t/g'), at('t/h')], 'OK'], false],
      ['write', ['writeAt', [at('t/g'), 'DATA', 0], 'OK'], true],
      ['truncate', ['truncate', [at('t/g'), 2], 'OK'], true],
    ];
    let prev = await stat('t/f');
    let name = 't/f';
    for (const [what, row, movesMtime] of steps) {
      const t = Date.now();
      await expectRows('root', [row]);
      if (what === 'rename') name = 't/g';
      const now = await stat(name);
      assert.ok(now.ctimeMs > prev.ctimeMs && now.ctimeMs >= t - 5, `${what}: ctime ${prev.ctimeMs} -> ${now.ctimeMs} (call at ${t})`);
      if (movesMtime) assert.ok(now.mtimeMs >= t - 5, `${what}: mtime ${now.mtimeMs} (call at ${t})`);
      else assert.equal(now.mtimeMs, prev.mtimeMs, `${what} leaves mtime alone`);
      prev = now;
    }
    const t = Date.now();
    await expectRows('root', [
      ['touch', [at('t/g')], 'OK'], // utimensat(UTIME_NOW, UTIME_NOW)
      ['lstat', [at('t/g')], 'OK', (v) => assert.ok((v as StatView).mtimeMs >= t - 5, 'touch sets mtime to now')],
      ['lstat', [at('t/g')], 'OK', is({ uid: NOBODY, gid: NOBODY, mode: 0o600, size: 2 })],
      // umask: the kernel applies it before the mount sees the mode
      ['mkdir', [at('t/um'), 0o777], 'OK', undefined, 0o022],
      ['lstat', [at('t/um')], 'OK', is({ mode: 0o755 })],
      ['open', [at('t/um/f'), 'O_CREAT|O_WRONLY', 0o666], 'OK', undefined, 0o077],
      ['lstat', [at('t/um/f')], 'OK', is({ mode: 0o600 })],
      ['mkdir', [at('t/sticky'), 0o1777], 'OK', undefined, 0],
      ['lstat', [at('t/sticky')], 'OK', is({ mode: 0o1777 })],
      // chown of a file clears set-user-id and set-group-id (with group execute); of a directory not
      ['chmod', [at('t/g'), 0o6755], 'OK'],
      ['lstat', [at('t/g')], 'OK', is({ mode: 0o6755 })],
      ['chown', [at('t/g'), 0, 0], 'OK'],
      ['lstat', [at('t/g')], 'OK', is({ mode: 0o755, uid: 0 })],
      ['chmod', [at('t/um'), 0o2755], 'OK'],
      ['chown', [at('t/um'), NOBODY, NOBODY], 'OK'],
      ['lstat', [at('t/um')], 'OK', is({ mode: 0o2755 })],
    ]);
  });

  it('as uid 65534: permission checks of the calling user, sticky directories, set-id bits cleared on write, devices refused', async () => {
    const protectedHardlinks = readFileSync('/proc/sys/fs/protected_hardlinks', 'utf8').trim() === '1';
    await expectRows('root', [
      ['mkdir', [at('u'), 0o777], 'OK', undefined, 0],
      ['mkdir', [at('u/ro'), 0o755], 'OK'],
      ['write', [at('u/ro/f'), 'ro'], 'OK'],
      ['mkdir', [at('u/priv'), 0o700], 'OK'],
      ['write', [at('u/priv/p'), 'secret'], 'OK'],
      ['mkdir', [at('u/sticky'), 0o1777], 'OK', undefined, 0],
      ['open', [at('u/sticky/rootfile'), 'O_CREAT|O_WRONLY', 0o666], 'OK', undefined, 0],
      ['write', [at('u/w'), 'w'], 'OK'],
      ['chmod', [at('u/w'), 0o6777], 'OK'],
    ]);
    await expectRows('nobody', [
      ['read', [at('u/ro/f')], 'OK', equals('ro')],
      ['write', [at('u/ro/new'), 'x'], 'EACCES'],
      ['open', [at('u/ro/f'), 'O_WRONLY|O_TRUNC'], 'EACCES'],
      ['mkdir', [at('u/ro/d'), 0o755], 'EACCES'],
      ['unlink', [at('u/ro/f')], 'EACCES'],
      ['readdir', [at('u/priv')], 'EACCES'],
      ['lstat', [at('u/priv/p')], 'EACCES'],
      ['chmod', [at('u/ro/f'), 0o777], 'EPERM'],
      ['chown', [at('u/ro/f'), NOBODY, NOBODY], 'EPERM'],
      ['touch', [at('u/ro/f')], 'EACCES'],
      ['touch', [at('u/sticky/rootfile'), '-d', '@1000000000'], 'EPERM'], // explicit times: the owner's
      ['touch', [at('u/sticky/rootfile')], 'OK'], // "now": anyone who may write
      ['unlink', [at('u/sticky/rootfile')], 'EPERM'],
      ['rename', [at('u/sticky/rootfile'), at('u/stolen')], 'EPERM'],
      ['symlink', ['ro/f', at('u/nsym')], 'OK'],
      ['read', [at('u/nsym')], 'OK', equals('ro')],
      ['link', [at('u/ro/f'), at('u/nlink')], protectedHardlinks ? 'EPERM' : 'OK'],
      ['mkfifo', [at('u/nfifo')], 'OK'],
      ['mknod', [at('u/ndev'), 'c', 1, 3], 'EPERM'],
      ['writeAt', [at('u/w'), 'W', 0], 'OK'],
    ]);
    await expectRows('root', [
      ['lstat', [at('u/w')], 'OK', is({ mode: 0o777 })], // a write by a non-superuser drops set-id bits
      ['read', [at('u/w')], 'OK', equals('W')],
      ['lstat', [at('u/sticky/rootfile')], 'OK', is({ type: 'file' })],
      ['lstat', [at('u/nfifo')], 'OK', is({ type: 'fifo' })],
    ]);
  });
});
