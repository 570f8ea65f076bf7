import type Database from 'better-sqlite3';
import { ErrorCode, MAX_PATH_BYTES, type FileStatus } from '@dfs/proto';
import type { Caller } from '../auth/caller.js';
import type { LinkCmd, MknodCmd, SymlinkCmd } from './commands.js';
import { Namespace, fail, isDir, splitPath, statusOf, type InodeRow } from './namespace.js';
import { EXECUTE, WRITE, commandCaller, denied, mustWalk, requireAccess } from './permissions.js';
import { TYPE_BLOCK_DEVICE, TYPE_CHAR_DEVICE, TYPE_FIFO, TYPE_SOCKET, TYPE_SYMLINK } from './schema.js';

/*
 * The POSIX namespace entries beyond files and directories (docs/posix.md), applied inside
 * the deterministic apply like every command:
 *   - a symbolic link stores its target as given; the master never follows one (the kernel
 *     does, through the mount; the CLI and library report it);
 *   - FIFOs, sockets and device nodes are metadata only (type, mode, rdev), no chunks;
 *   - a hard link is a row of `links` naming an existing non-directory inode (schema.ts).
 * Each new name needs w and x on its directory and a free name there, as a create does.
 */

/** What the command processor lends this one: its counters, parent touches, quotas. */
export interface PosixHooks {
  touch(dir: number, now: number): void;
  setCtime(inode: number, now: number): void;
  alloc(): number;
  enforceQuota(dir: number): void;
}

const SPECIAL_KINDS = new Set([TYPE_FIFO, TYPE_SOCKET, TYPE_CHAR_DEVICE, TYPE_BLOCK_DEVICE]);

export class PosixProcessor {
  private readonly sInsert: Database.Statement;
  private readonly sInsertLink: Database.Statement;

  constructor(
    db: Database.Database,
    private readonly ns: Namespace,
    private readonly hooks: PosixHooks,
  ) {
    this.sInsert = db.prepare(`INSERT INTO inodes (id, parent, name, type, mode, mtime, size, owner, grp, atime, ctime, target, rdev)
      VALUES (@id, @parent, @name, @type, @mode, @now, @size, @owner, @grp, @now, @now, @target, @rdev)`);
    this.sInsertLink = db.prepare('INSERT INTO links (parent, name, inode) VALUES (?, ?, ?)');
  }

  symlink(cmd: SymlinkCmd): { file: FileStatus } {
    // POSIX: an empty target is ENOENT; one longer than PATH_MAX is ENAMETOOLONG.
    if (cmd.target.length === 0) fail(ErrorCode.NOT_FOUND, 'a symbolic link needs a target');
    if (Buffer.byteLength(cmd.target) >= MAX_PATH_BYTES) fail(ErrorCode.NAME_TOO_LONG, `symbolic link target longer than ${MAX_PATH_BYTES - 1} bytes`);
    if (cmd.target.includes('\0')) fail(ErrorCode.INVALID_ARGUMENT, 'a symbolic link target cannot contain NUL');
    const { path, parent, name, caller } = this.newName(cmd.path, cmd);
    const row = this.insert(parent, name, TYPE_SYMLINK, 0o777, caller, cmd.now, { target: cmd.target, size: Buffer.byteLength(cmd.target) });
    return { file: statusOf(row, path, 1) };
  }

  mknod(cmd: MknodCmd): { file: FileStatus } {
    if (!SPECIAL_KINDS.has(cmd.kind)) fail(ErrorCode.INVALID_ARGUMENT, `mknod makes FIFOs, sockets and devices, not type ${cmd.kind}`);
    if (cmd.mode > 0o7777) fail(ErrorCode.INVALID_ARGUMENT, `bad mode ${cmd.mode.toString(8)}`);
    const device = cmd.kind === TYPE_CHAR_DEVICE || cmd.kind === TYPE_BLOCK_DEVICE;
    const { path, parent, name, caller } = this.newName(cmd.path, cmd);
    // Device nodes are the superuser's (Linux: CAP_MKNOD); FIFOs and sockets anyone's.
    if (device && !caller.superuser) denied(caller, 'SUPERUSER (device node)', path, parent);
    const row = this.insert(parent, name, cmd.kind, cmd.mode, caller, cmd.now, { rdev: device ? cmd.rdev : 0 });
    return { file: statusOf(row, path, 1) };
  }

  link(cmd: LinkCmd): { file: FileStatus } {
    const caller = commandCaller(cmd);
    const src = splitPath(cmd.src);
    const { row } = mustWalk(this.ns, src.path, src.comps, caller);
    if (isDir(row)) fail(ErrorCode.IS_A_DIRECTORY, `hard links to directories are not allowed: ${src.path}`);
    const { path, parent, name } = this.newName(cmd.dst, cmd);
    this.sInsertLink.run(parent.id, name, row.id);
    this.hooks.setCtime(row.id, cmd.now);
    this.hooks.touch(parent.id, cmd.now);
    this.hooks.enforceQuota(parent.id);
    const done = this.ns.child(parent.id, name)!;
    return { file: statusOf(done, path, this.ns.nlinkOf(done)) };
  }

  /** The directory a new entry goes in: it exists, the caller may write it, the name is free. */
  private newName(raw: string, cmd: { caller?: Caller }): { path: string; parent: InodeRow; name: string; caller: Caller } {
    const { path, comps } = splitPath(raw);
    if (comps.length === 0) fail(ErrorCode.ALREADY_EXISTS, 'file exists: /');
    const caller = commandCaller(cmd);
    const parentComps = comps.slice(0, -1);
    const parentPath = '/' + parentComps.join('/');
    const parent = mustWalk(this.ns, parentPath, parentComps, caller).row;
    if (!isDir(parent)) fail(ErrorCode.NOT_A_DIRECTORY, `not a directory: ${parentPath}`);
    requireAccess(parent, caller, EXECUTE, parentPath);
    const name = comps[comps.length - 1]!;
    if (this.ns.child(parent.id, name)) fail(ErrorCode.ALREADY_EXISTS, `file exists: ${path}`);
    requireAccess(parent, caller, WRITE, parentPath);
    return { path, parent, name, caller };
  }

  private insert(parent: InodeRow, name: string, type: number, mode: number, caller: Caller, now: number, extra: { target?: string; size?: number; rdev?: number }): InodeRow {
    const id = this.hooks.alloc();
    this.sInsert.run({
      id, parent: parent.id, name, type, mode, now, size: extra.size ?? 0, owner: caller.user,
      grp: parent.grp, // a new entry takes its directory's group, as every create (HDFS, BSD rule)
      target: extra.target ?? null, rdev: extra.rdev ?? 0,
    });
    this.hooks.touch(parent.id, now);
    this.hooks.enforceQuota(parent.id);
    return this.ns.byId(id)!;
  }
}
