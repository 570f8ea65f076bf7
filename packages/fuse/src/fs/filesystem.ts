import { Readable } from 'node:stream';
import { DfsError, ErrorCode, FileType, MAX_INLINE_BYTES, type FileStatus, isSameOrDescendant, parentPath } from '@dfs/proto';
import { AttrOverlay } from './attr-overlay.js';
import { attrFromOpenFile, attrFromStatus, isDirectory, S_IFREG, typeOfMode, type Attr, type Owner } from './attrs.js';
import type { FsBackend } from './backend.js';
import { BlockCache } from './block-cache.js';
import { FsError } from './errno.js';
import type { IdentityMap } from './identity-map.js';
import { versionOf, type FileVersion } from './file-version.js';
import { KernelView } from './kernel-view.js';
import { MetaCache } from './meta-cache.js';
import { OpenFile } from './open-file.js';
import { OpenFiles } from './open-files.js';
import { checkNames, isHiddenName, PathMap } from './paths.js';
import { RemoteReader } from './remote-reader.js';
import type { Spool } from './spool.js';
import { statfsFromNodes, type Statfs } from './statfs.js';
import { TtlCache, type Clock } from './ttl-cache.js';
import { WriteBehind } from './write-behind.js';

export interface FileSystemOptions {
  /** Remote directory shown at the mount's root. */
  remoteRoot: string;
  /** Local directory for spool files (must exist). */
  spoolDir: string;
  attrTtlMs?: number;
  dirTtlMs?: number;
  statfsTtlMs?: number;
  blockSize?: number;
  cacheBytes?: number;
  readaheadMax?: number;
  /**
   * Upload new, sequentially written files chunk by chunk while they are written (from
   * the spool file, as a put of a finished file would), so close waits only for the last
   * chunk. dfs-mount turns it on unless --no-write-behind; off here when absent.
   */
  writeBehind?: boolean;
  /**
   * The kernel caches attributes or names (any kernel timeout above 0): open() then makes
   * it look a path up again when its cached size is out of date (kernel-view.ts).
   */
  kernelCaches?: boolean;
  /**
   * A spool stays in memory up to this many bytes (default: the client's inline-file limit,
   * so a small file's commit is one inline CreateFile and touches no local file).
   */
  spoolMemoryBytes?: number;
  owner?: Owner;
  /** Maps dfs owner/group names to local ids and back (identity-map.ts); absent = all the mounter's. */
  identity?: IdentityMap;
  now?: Clock;
}

export const FS_DEFAULTS = {
  attrTtlMs: 1000,
  dirTtlMs: 1000,
  statfsTtlMs: 5000,
  blockSize: 1024 * 1024,
  cacheBytes: 128 * 1024 * 1024,
  readaheadMax: 32 * 1024 * 1024,
};

const O_ACCMODE = 0o3;
const O_RDONLY = 0;
const O_RDWR = 0o2;

/** How old a master stat answer open() may reuse (the lookup of the same open(2)). */
const OPEN_REUSE_MS = 25;

/** mtime values utimens hands over for UTIME_NOW/UTIME_OMIT (tv_sec 0, tv_nsec ~2^30). */
const UTIME_SPECIAL_LIMIT_MS = 2000;

/**
 * The file system a mount serves, over an FsBackend. Every method takes mount-relative
 * paths and throws FsError/DfsError, which the FUSE layer turns into errnos.
 *
 * Consistency: close-to-open. open() asks the master for the current version; writes
 * and truncates go to a local spool and become one new version on flush, fsync or
 * close, so other clients see the old file or the new one whole, never a mix.
 */
export class DfsFileSystem {
  readonly files = new OpenFiles();
  private readonly meta: MetaCache;
  /** The size the kernel caches for each path (close-to-open under kernel attribute caching). */
  private readonly kernel = new KernelView();
  private readonly overlay = new AttrOverlay();
  private readonly reader: RemoteReader;
  private readonly statfsCache: TtlCache<Statfs>;
  private readonly paths: PathMap;
  private readonly owner: Owner;
  private readonly now: Clock;
  /** Names libfuse gave files it hid (unlinked while open); their remote file is already gone. */
  private readonly hidden = new Set<string>();
  private readonly writeBehind: WriteBehind;
  /** A spool stays in memory up to this size (FileSystemOptions.spoolMemoryBytes). */
  private readonly spoolMemoryBytes: number;

  constructor(
    private readonly backend: FsBackend,
    private readonly opts: FileSystemOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.spoolMemoryBytes = opts.spoolMemoryBytes ?? MAX_INLINE_BYTES;
    this.writeBehind = new WriteBehind(backend, opts.writeBehind ?? false, this.spoolMemoryBytes);
    this.paths = new PathMap(opts.remoteRoot);
    this.owner = opts.owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    this.meta = new MetaCache({ attrTtlMs: opts.attrTtlMs ?? FS_DEFAULTS.attrTtlMs, dirTtlMs: opts.dirTtlMs ?? FS_DEFAULTS.dirTtlMs, now: this.now });
    this.statfsCache = new TtlCache(opts.statfsTtlMs ?? FS_DEFAULTS.statfsTtlMs, 1, this.now);
    this.reader = new RemoteReader(backend, new BlockCache(opts.cacheBytes ?? FS_DEFAULTS.cacheBytes), {
      blockSize: opts.blockSize ?? FS_DEFAULTS.blockSize,
      readaheadMax: opts.readaheadMax ?? FS_DEFAULTS.readaheadMax,
    });
  }

  private remote(path: string): string {
    return this.paths.toRemote(path);
  }

  // ---- metadata ----

  /** Asks the master; a small file's bytes come with the answer when the backend can (open's read needs no second call). */
  private async statFresh(path: string): Promise<FileStatus | null> {
    if (this.backend.statWithInline) {
      const answer = await this.backend.statWithInline(this.remote(path));
      this.meta.setFetchedStat(path, answer?.file ?? null, answer?.inline);
      return answer?.file ?? null;
    }
    const status = await this.backend.tryStat(this.remote(path));
    this.meta.setFetchedStat(path, status);
    return status;
  }

  /**
   * For open(): the kernel looks a path up (getattr) just before it opens it, within the
   * same open(2); a master answer that recent is as fresh as asking again.
   */
  private async statForOpen(path: string): Promise<FileStatus | null> {
    const recent = this.meta.recentStat(path, OPEN_REUSE_MS);
    return recent !== undefined ? recent : this.statFresh(path);
  }

  private async statCached(path: string): Promise<FileStatus | null> {
    const cached = this.meta.stat(path);
    return cached !== undefined ? cached : this.statFresh(path);
  }

  private async mustStat(path: string, fresh = false): Promise<FileStatus> {
    const status = fresh ? await this.statFresh(path) : await this.statCached(path);
    if (!status) throw new FsError('ENOENT', `${path}: no such file or directory`);
    return status;
  }

  /** Attributes of a file with a spool (its local content), or undefined. */
  private localAttr(path: string): Attr | undefined {
    const file = this.files.get(path);
    if (!file) return undefined;
    const size = file.spoolSize ?? (file.base === null ? 0 : undefined);
    if (size === undefined) return undefined;
    return attrFromOpenFile(file, size, this.owner, this.overlay.get(path));
  }

  async getattr(path: string): Promise<Attr> {
    checkNames(path);
    const attr = this.localAttr(path) ?? (await this.remoteAttr(path));
    this.kernel.told(path, attr.size); // every getattr answer goes to the kernel's cache
    return attr;
  }

  private async remoteAttr(path: string): Promise<Attr> {
    const status = await this.mustStat(path);
    return attrFromStatus(status, this.ownerOf(status), this.overlay.get(path));
  }

  async readdir(path: string): Promise<string[]> {
    checkNames(path);
    let entries = this.meta.listing(path);
    if (!entries) {
      entries = [];
      for await (const entry of this.backend.list(this.remote(path))) entries.push(entry);
      this.meta.setListing(path, entries, (name) => (path === '/' ? `/${name}` : `${path}/${name}`));
    }
    const names = new Set(entries.map((e) => e.name));
    for (const file of this.files.childrenOf(path)) names.add(file.path.slice(file.path.lastIndexOf('/') + 1));
    return ['.', '..', ...names];
  }

  async statfs(): Promise<Statfs> {
    const cached = this.statfsCache.get('');
    if (cached) return cached;
    const status = await this.backend.clusterStatus();
    const result = statfsFromNodes(status.chunkservers);
    this.statfsCache.set('', result);
    return result;
  }

  async mkdir(path: string, mode: number): Promise<void> {
    checkNames(path);
    if (this.files.get(path)) throw new FsError('EEXIST', `${path}: file exists`);
    await this.backend.mkdir(this.remote(path), { parents: false, mode: mode & 0o7777 });
    this.meta.changed(path);
  }

  async rmdir(path: string): Promise<void> {
    checkNames(path);
    if (path === '/') throw new FsError('EBUSY', 'cannot remove the mount root');
    const status = await this.mustStat(path, true);
    if (!isDirectory(status)) throw new FsError('ENOTDIR', `${path}: not a directory`);
    if (this.files.childrenOf(path).length > 0) throw new FsError('ENOTEMPTY', `${path}: directory not empty`);
    await this.backend.rm(this.remote(path), { recursive: false, skipTrash: true });
    this.meta.changedTree(path);
    this.meta.setStat(path, null);
    this.kernel.forget(path, true);
    this.overlay.deleteWithin(path);
  }

  async unlink(path: string): Promise<void> {
    checkNames(path);
    if (this.hidden.delete(path)) return;
    const file = this.files.get(path);
    if (file && file.base === null) {
      // Created here and never committed: nothing exists remotely.
      file.stopUpload();
      file.orphan = true;
      this.files.detach(file);
    } else {
      const status = await this.mustStat(path, true);
      if (isDirectory(status)) throw new FsError('EISDIR', `${path}: is a directory`);
      await this.backend.rm(this.remote(path), { recursive: false, skipTrash: true });
      this.meta.changedInode(status); // its other names (hard links) count one less
      if (file) {
        file.stopUpload();
        file.orphan = true;
        this.files.detach(file);
      }
    }
    this.meta.changed(path);
    this.meta.setStat(path, null);
    this.kernel.forget(path);
    this.overlay.delete(path);
  }

  async rename(src: string, dst: string): Promise<void> {
    checkNames(src);
    checkNames(dst);
    if (src === dst) return;
    if (isHiddenName(dst) && this.files.get(src)) return this.hide(src, dst);
    if (isSameOrDescendant(dst, src)) throw new FsError('EINVAL', `cannot move ${src} into itself`);
    const srcFile = this.files.get(src);
    if (srcFile?.dirty) await this.commit(srcFile);
    const srcStatus = await this.mustStat(src, true);
    const dstStatus = await this.statFresh(dst);
    if (dstStatus && dstStatus.inode === srcStatus.inode && !isDirectory(srcStatus)) return; // POSIX: two names of one file
    if (dstStatus) {
      if (isDirectory(dstStatus)) {
        if (!isDirectory(srcStatus)) throw new FsError('EISDIR', `${dst}: is a directory`);
        if (this.files.childrenOf(dst).length > 0) throw new FsError('ENOTEMPTY', `${dst}: directory not empty`);
      } else if (isDirectory(srcStatus)) {
        throw new FsError('ENOTDIR', `${dst}: not a directory`);
      }
    }
    // The master replaces a file or an empty directory in the same step (ENOTEMPTY otherwise).
    await this.backend.mv(this.remote(src), this.remote(dst), { overwrite: dstStatus !== null });
    this.meta.changedInode(srcStatus);
    if (dstStatus) this.meta.changedInode(dstStatus);
    this.files.rename(src, dst);
    this.overlay.rename(src, dst);
    this.kernel.renamed(src, dst, isDirectory(srcStatus));
    this.meta.changedTree(src);
    this.meta.changedTree(dst);
    this.meta.setStat(src, null);
  }

  /**
   * libfuse renames a file that is unlinked (or renamed over) while open to a hidden
   * name and unlinks that at the last close. We keep its content in the spool for the
   * open handles, delete the remote file now, and never commit the orphan.
   */
  private async hide(src: string, hiddenPath: string): Promise<void> {
    const file = this.files.get(src)!;
    file.stopUpload();
    await file.ensureSpool(Number.MAX_SAFE_INTEGER);
    if (file.base !== null) {
      await this.backend.rm(this.remote(src), { recursive: false, skipTrash: true }).catch((err: unknown) => {
        if (!DfsError.is(err, ErrorCode.NOT_FOUND)) throw err;
      });
    }
    file.orphan = true;
    this.files.rename(src, hiddenPath);
    this.hidden.add(hiddenPath);
    this.kernel.renamed(src, hiddenPath, false);
    this.meta.changed(src);
    this.meta.setStat(src, null);
    this.overlay.delete(src);
  }

  // ---- POSIX entries: the master keeps them (docs/posix.md); the kernel follows symlinks ----

  async readlink(path: string): Promise<string> {
    checkNames(path);
    const status = await this.mustStat(path);
    if (status.type !== FileType.SYMLINK) throw new FsError('EINVAL', `${path}: not a symbolic link`);
    return status.symlinkTarget;
  }

  async symlink(target: string, path: string): Promise<void> {
    checkNames(path);
    if (!this.backend.symlink) throw new FsError('ENOSYS', 'this backend has no symbolic links');
    if (this.files.get(path)) throw new FsError('EEXIST', `${path}: file exists`);
    const status = await this.backend.symlink(target, this.remote(path));
    this.meta.changed(path);
    this.meta.setStat(path, status);
  }

  async link(src: string, dst: string): Promise<void> {
    checkNames(src);
    checkNames(dst);
    if (!this.backend.link) throw new FsError('ENOSYS', 'this backend has no hard links');
    if (this.files.get(dst)) throw new FsError('EEXIST', `${dst}: file exists`);
    const file = this.files.get(src);
    if (file && (file.dirty || file.base === null)) await this.commit(file); // the link names committed content
    const status = await this.backend.link(this.remote(src), this.remote(dst));
    this.meta.changedInode(status);
    this.meta.changed(src);
    this.meta.changed(dst);
    this.meta.setStat(dst, status);
  }

  /** mknod(2): FIFOs, sockets and devices live on the master as metadata; a regular file is an empty file. */
  async mknod(path: string, mode: number, rdev: number): Promise<void> {
    checkNames(path);
    if (this.files.get(path)) throw new FsError('EEXIST', `${path}: file exists`);
    const type = (mode & 0o170000) === 0 ? FileType.FILE : typeOfMode(mode);
    if (type === undefined || type === FileType.DIRECTORY || type === FileType.SYMLINK) throw new FsError('EINVAL', `${path}: mknod of mode ${mode.toString(8)}`);
    if (type === FileType.FILE) {
      if (await this.statFresh(path)) throw new FsError('EEXIST', `${path}: file exists`);
      const status = await this.backend.put(Readable.from([]), this.remote(path), { overwrite: false, mode: (mode & ~S_IFREG) & 0o7777 });
      this.meta.changed(path);
      this.meta.setStat(path, status);
      return;
    }
    if (!this.backend.mknod) throw new FsError('ENOSYS', 'this backend has no special files');
    const status = await this.backend.mknod(this.remote(path), type, { mode: mode & 0o7777, rdev });
    this.meta.changed(path);
    this.meta.setStat(path, status);
  }

  async chmod(path: string, mode: number): Promise<void> {
    checkNames(path);
    const perm = mode & 0o7777;
    const file = this.files.get(path);
    if (file) file.mode = perm;
    if (!file || file.base !== null) await this.mustStat(path);
    await this.setAttributes(path, { mode: perm }, file);
  }

  async utimens(path: string, mtimeMs: number): Promise<void> {
    checkNames(path);
    const when = mtimeMs < UTIME_SPECIAL_LIMIT_MS ? this.now() : mtimeMs;
    const file = this.files.get(path);
    if (!file || file.base !== null) await this.mustStat(path);
    // fuse-native hands one time for both (README, utimens caveat): atime and mtime get it.
    await this.setAttributes(path, { mtimeMs: when, atimeMs: when }, file);
  }

  /** chown(2): ids map to names through the local account database; -1 keeps a field. */
  async chown(path: string, uid: number, gid: number): Promise<void> {
    checkNames(path);
    if (!this.backend.setAttributes || !this.opts.identity) return; // no owners to change: accepted, as before
    const change: { owner?: string; group?: string } = {};
    if (uid !== -1 && uid !== 0xffffffff) {
      const owner = this.opts.identity.userOf(uid);
      if (!owner) throw new FsError('EINVAL', `uid ${uid} has no user name on this host`);
      change.owner = owner;
    }
    if (gid !== -1 && gid !== 0xffffffff) {
      const group = this.opts.identity.groupOf(gid);
      if (!group) throw new FsError('EINVAL', `gid ${gid} has no group name on this host`);
      change.group = group;
    }
    if (change.owner === undefined && change.group === undefined) return;
    const file = this.files.get(path);
    if (file && (file.dirty || file.base === null)) await this.commit(file); // owners live on the master only
    await this.mustStat(path);
    await this.backend.setAttributes(this.remote(path), change);
    this.meta.changed(path);
  }

  private ownerOf(status: FileStatus): Owner {
    return this.opts.identity ? this.opts.identity.ownerOf(status.owner, status.group) : this.owner;
  }

  /** Stores mode/times remotely when the backend can and nothing is pending, else in the overlay until the commit. */
  private async setAttributes(path: string, change: { mode?: number; mtimeMs?: number; atimeMs?: number }, file: OpenFile | undefined): Promise<void> {
    if (this.backend.setAttributes && !(file && (file.dirty || file.base === null))) {
      await this.backend.setAttributes(this.remote(path), change);
      this.meta.changed(path);
      return;
    }
    this.overlay.set(path, change);
  }

  // ---- files ----

  private newOpenFile(path: string, base: FileVersion | null, mode: number): OpenFile {
    const fill = (spool: Spool, version: FileVersion, bytes: number): Promise<void> => this.fillSpool(spool, version, bytes);
    const file = new OpenFile(path, base, mode, this.now(), this.opts.spoolDir, fill, this.spoolMemoryBytes);
    this.files.add(file);
    return file;
  }

  private async fillSpool(spool: Spool, version: FileVersion, bytes: number): Promise<void> {
    if (version.inline) await spool.write(version.inline, bytes, 0);
    else await spool.append(this.backend.readChunks(version.remotePath, { start: 0, end: bytes - 1 }));
    if (spool.size !== bytes) throw new FsError('EIO', `${version.remotePath}: read ${spool.size} of ${bytes} bytes`);
  }

  /** `flags` as open(2) got them; only the access mode matters here. */
  async open(path: string, flags = O_RDWR): Promise<number> {
    checkNames(path);
    const writable = (flags & O_ACCMODE) !== O_RDONLY;
    let file = this.files.get(path);
    if (file && (file.spoolSize !== undefined || file.base === null)) return this.files.open(file, file.base, writable);
    // Close-to-open: every open asks the master for the current version.
    const status = await this.statForOpen(path);
    if (!status) throw new FsError('ENOENT', `${path}: no such file or directory`);
    if (isDirectory(status)) throw new FsError('EISDIR', `${path}: is a directory`);
    if (this.opts.kernelCaches && this.kernel.mustRevalidate(path, status.size)) {
      // The kernel would cut reads (and place O_APPEND writes) at a size it cached before
      // another client changed the file: make it look the path up again (kernel-view.ts).
      throw new FsError('ESTALE', `${path}: changed since the kernel cached its size; the kernel looks it up again`, { expected: true });
    }
    // The bytes of a small file came with that answer (statFresh): its reads need no call.
    const version = versionOf(this.remote(path), status, this.meta.recentInline(path, status, OPEN_REUSE_MS));
    file = this.files.get(path);
    if (file && file.spoolSize === undefined && file.base !== null) file.base = version;
    file ??= this.newOpenFile(path, version, status.mode & 0o7777);
    return this.files.open(file, file.spoolSize === undefined ? version : file.base, writable);
  }

  async create(path: string, mode: number): Promise<number> {
    checkNames(path);
    const existing = this.files.get(path);
    if (existing) return this.files.open(existing, existing.base);
    const parent = await this.mustStat(parentPath(path));
    if (!isDirectory(parent)) throw new FsError('ENOTDIR', `${parentPath(path)}: not a directory`);
    const file = this.newOpenFile(path, null, mode & 0o7777);
    await file.ensureSpool(0);
    file.touch(this.now());
    this.meta.changed(path, { keepParent: true }); // the master's parent changes at the commit (committedIn)
    return this.files.open(file, null);
  }

  async read(fd: number, out: Buffer, len: number, pos: number): Promise<number> {
    const handle = this.files.handle(fd);
    const spool = await handle.file.currentSpool();
    if (spool) return spool.read(out, len, pos);
    if (!handle.version) return 0;
    const inline = handle.version.inline;
    if (inline) return pos >= inline.length ? 0 : inline.copy(out, 0, pos, Math.min(inline.length, pos + len));
    return this.reader.read(handle.version, pos, len, out, handle.readahead);
  }

  async write(fd: number, data: Buffer, len: number, pos: number): Promise<number> {
    const file = this.files.handle(fd).file;
    const spool = await file.ensureSpool(Number.MAX_SAFE_INTEGER);
    this.writeBehind.beforeWrite(file, spool, pos, len, this.remote(file.path));
    await spool.write(data, len, pos);
    this.writeBehind.afterWrite(file, pos + len);
    file.touch(this.now());
    this.overlay.clearMtime(file.path);
    return len;
  }

  async ftruncate(fd: number, size: number): Promise<void> {
    await this.truncateFile(this.files.handle(fd).file, size);
  }

  async truncate(path: string, size: number): Promise<void> {
    checkNames(path);
    const open = this.files.get(path);
    if (open) return this.truncateFile(open, size);
    // Not open on this mount: a one-shot edit, committed at once.
    const status = await this.mustStat(path, true);
    if (isDirectory(status)) throw new FsError('EISDIR', `${path}: is a directory`);
    const file = this.newOpenFile(path, versionOf(this.remote(path), status), status.mode & 0o7777);
    try {
      await this.truncateFile(file, size);
      await this.commit(file);
    } finally {
      if (file.handles.size === 0) {
        this.files.detach(file);
        await file.dispose();
      }
    }
  }

  private async truncateFile(file: OpenFile, size: number): Promise<void> {
    if (size < 0) throw new FsError('EINVAL', `negative size ${size}`);
    const spool = await file.ensureSpool(size);
    if (size !== spool.size) file.stopUpload();
    await spool.truncate(size);
    file.touch(this.now());
    this.overlay.clearMtime(file.path);
  }

  /** close(2) of a handle opened for writing commits; fsync commits from any handle. */
  async flush(fd: number): Promise<void> {
    const handle = this.files.handle(fd);
    if (handle.writable) await this.commit(handle.file);
  }

  async fsync(fd: number): Promise<void> {
    await this.commit(this.files.handle(fd).file);
  }

  async release(fd: number): Promise<void> {
    this.reader.forget(this.files.handle(fd).readahead);
    const file = this.files.close(fd);
    if (file.handles.size > 0) return;
    try {
      await this.commit(file);
    } finally {
      // A new open may have arrived while the commit ran.
      if (file.handles.size === 0) {
        this.files.detach(file);
        await file.dispose();
      }
    }
  }

  /** Uploads the spool as the file's new version if anything changed since the last commit. */
  commit(file: OpenFile): Promise<void> {
    return file.serialize(async () => {
      if (file.orphan || !file.dirty) return;
      const spool = await file.currentSpool();
      if (!spool) return;
      const gen = file.dirtyGen;
      const path = file.path;
      const remote = this.remote(path);
      const status = (await this.writeBehind.finish(file, spool, remote)) ?? (await this.backend.put(spool.source, remote, { overwrite: true, mode: file.mode }));
      file.committedGen = gen;
      file.base = versionOf(remote, status);
      this.kernel.told(path, status.size); // the kernel saw the writes that made this size
      this.meta.changedInode(status); // hard links of the file see the new version too
      this.meta.changed(path, { keepParent: status.nlink <= 1 });
      this.meta.setStat(path, status);
      if (status.nlink <= 1) this.meta.committedIn(path, status.mtimeMs);
      const pending = this.overlay.get(path);
      if (pending && this.backend.setAttributes) {
        await this.backend.setAttributes(remote, pending);
        this.overlay.delete(path);
        this.meta.changed(path);
      }
    });
  }

  /** Handles still open on this mount. */
  get openHandles(): number {
    return this.files.all().reduce((n, file) => n + file.handles.size, 0);
  }

  /**
   * Waits for commits in flight; returns the files whose changes are still not committed
   * (open files that were written and not closed) with the spool that holds them.
   */
  async uncommitted(): Promise<Array<{ path: string; spool: string | undefined }>> {
    const files = this.files.all();
    await Promise.all(files.map((file) => file.serialize(async () => undefined)));
    const left: Array<{ path: string; spool: string | undefined }> = [];
    for (const file of files) {
      if (!file.dirty || file.orphan) continue;
      left.push({ path: file.path, spool: await (await file.currentSpool().catch(() => undefined))?.persist().catch(() => undefined) });
    }
    return left;
  }

  async disposeAll(): Promise<void> {
    await Promise.all(this.files.all().map((file) => file.dispose()));
  }
}
