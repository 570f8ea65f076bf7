// Runs a list of file-system calls in this process and prints, as one JSON line, what each
// returned: 'OK' (with a value for reads) or the errno name. The POSIX conformance test
// runs it as root and, through setpriv, as an unprivileged uid, so the kernel checks every
// call against that caller. Node builtins only: it must run as any user.
//
//   node posix-ops.js '[{"op":"mkdir","args":["/mnt/x",511]},{"op":"lstat","args":["/mnt/x"]}]'
import { execFileSync } from 'node:child_process';
import { closeSync, constants as C, openSync, readSync, writeSync, type Stats } from 'node:fs';
import * as fs from 'node:fs';
import { createServer } from 'node:net';

export interface PosixOp {
  op: string;
  args: Array<string | number>;
  /** The umask this call runs under (default 022). */
  umask?: number;
}

export interface PosixResult {
  r: string;
  v?: unknown;
}

/** Attributes as lstat/stat report them, as plain JSON. */
export interface StatView {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block';
  mode: number;
  nlink: number;
  ino: number;
  uid: number;
  gid: number;
  size: number;
  rdev: number;
  mtimeMs: number;
  ctimeMs: number;
  atimeMs: number;
}

function view(s: Stats): StatView {
  const type = s.isFile() ? 'file' : s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : s.isFIFO() ? 'fifo' : s.isSocket() ? 'socket' : s.isCharacterDevice() ? 'char' : 'block';
  return { type, mode: s.mode & 0o7777, nlink: s.nlink, ino: s.ino, uid: s.uid, gid: s.gid, size: s.size, rdev: s.rdev, mtimeMs: Math.floor(s.mtimeMs), ctimeMs: Math.floor(s.ctimeMs), atimeMs: Math.floor(s.atimeMs) };
}

/** Tools print strerror text; these are the errors the conformance test expects from them. */
const STRERROR: Record<string, string> = {
  'File exists': 'EEXIST',
  'Permission denied': 'EACCES',
  'Operation not permitted': 'EPERM',
  'No such file or directory': 'ENOENT',
  'Not a directory': 'ENOTDIR',
  'File name too long': 'ENAMETOOLONG',
  'Function not implemented': 'ENOSYS',
  'Invalid argument': 'EINVAL',
  'Input/output error': 'EIO',
};

function tool(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const text = String((err as { stderr?: string }).stderr ?? err);
    const known = Object.entries(STRERROR).find(([msg]) => text.includes(msg));
    throw Object.assign(new Error(text.trim()), { code: known ? known[1] : `E?(${text.trim()})` });
  }
}

function openFlags(names: string): number {
  return names.split('|').reduce((acc, n) => acc | (C as unknown as Record<string, number>)[n]!, 0);
}

async function run1(op: PosixOp): Promise<unknown> {
  const a = op.args;
  const p = String(a[0]);
  switch (op.op) {
    case 'mkdir':
      return fs.mkdirSync(p, Number(a[1] ?? 0o777));
    case 'rmdir':
      return fs.rmdirSync(p);
    case 'unlink':
      return fs.unlinkSync(p);
    case 'rename':
      return fs.renameSync(p, String(a[1]));
    case 'link':
      return fs.linkSync(p, String(a[1]));
    case 'symlink': // (target, path), as symlink(2)
      return fs.symlinkSync(p, String(a[1]));
    case 'readlink':
      return fs.readlinkSync(p);
    case 'lstat':
      return view(fs.lstatSync(p));
    case 'stat':
      return view(fs.statSync(p));
    case 'readdir':
      return fs.readdirSync(p).sort();
    case 'chmod':
      return fs.chmodSync(p, Number(a[1]));
    case 'chown':
      return fs.chownSync(p, Number(a[1]), Number(a[2]));
    case 'open': {
      // open(path, 'O_CREAT|O_EXCL|O_WRONLY', mode) then close
      const fd = openSync(p, openFlags(String(a[1])), Number(a[2] ?? 0o666));
      closeSync(fd);
      return undefined;
    }
    case 'write': // replaces the content
      return fs.writeFileSync(p, String(a[1]));
    case 'writeAt': {
      // writes without O_TRUNC: the file stays the same inode through open(2), as `dd conv=notrunc`
      const fd = openSync(p, C.O_WRONLY);
      try {
        writeSync(fd, String(a[1]), Number(a[2] ?? 0));
      } finally {
        closeSync(fd);
      }
      return undefined;
    }
    case 'read':
      return fs.readFileSync(p, 'utf8');
    case 'truncate':
      return fs.truncateSync(p, Number(a[1]));
    case 'mkfifo':
      // without a mode: mkfifo(1) sets one with chmod(2) after creating
      return tool('mkfifo', a[1] === undefined ? [p] : ['-m', Number(a[1]).toString(8), p]);
    case 'mknod': // (path, 'c'|'b', major, minor)
      return tool('mknod', [p, String(a[1]), String(a[2]), String(a[3])]);
    case 'touch': // (path, ...touch flags)
      return tool('touch', [...a.slice(1).map(String), p]);
    case 'socket':
      await new Promise<void>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        // Not closed: close() would unlink the socket file; the exit leaves it in place.
        server.listen(p, () => {
          server.unref();
          resolve();
        });
      });
      return undefined;
    case 'fifo-roundtrip': {
      // The kernel, not dfs, carries a FIFO's bytes: write one and read it back.
      const fd = openSync(p, C.O_RDWR | C.O_NONBLOCK);
      try {
        writeSync(fd, 'x');
        const buf = Buffer.alloc(1);
        readSync(fd, buf, 0, 1, null);
        return buf.toString();
      } finally {
        closeSync(fd);
      }
    }
    default:
      throw Object.assign(new Error(`unknown op ${op.op}`), { code: 'EBADOP' });
  }
}

async function main(): Promise<void> {
  const ops = JSON.parse(process.argv[2] ?? '[]') as PosixOp[];
  const out: PosixResult[] = [];
  for (const op of ops) {
    process.umask(op.umask ?? 0o022);
    try {
      const v = await run1(op);
      out.push(v === undefined ? { r: 'OK' } : { r: 'OK', v });
    } catch (err) {
      out.push({ r: (err as NodeJS.ErrnoException).code ?? String(err) });
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (require.main === module) void main();
