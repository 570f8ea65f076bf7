import type Database from 'better-sqlite3';
import { DfsError, ErrorCode, FileType, normalizePath, pathComponents, type FileStatus } from '@dfs/proto';
import { ROOT_ID, TYPE_BLOCK_DEVICE, TYPE_CHAR_DEVICE, TYPE_DIR, TYPE_FIFO, TYPE_FILE, TYPE_SOCKET, TYPE_SYMLINK } from './schema.js';

export interface InodeRow {
  id: number;
  parent: number | null;
  name: string;
  type: number;
  mode: number;
  mtime: number;
  size: number;
  replication: number;
  chunk_size: number;
  chunk_count: number;
  under_construction: number;
  lease_holder: string | null;
  lease_expiry: number | null;
  pending_parent: number | null;
  pending_overwrite: number;
  owner: string;
  grp: string;
  atime: number;
  ctime: number;
  target: string | null;
  rdev: number;
  /** Present on rows from children(): the entry's link count, as nlinkOf gives it. */
  nlink?: number;
  /**
   * Set when the row was reached through a hard link (a row of `links`): then `parent`
   * and `name` are that link's, not the inode row's own (see schema.ts).
   */
  via_link?: 1;
}

export interface ChunkRow {
  handle: number;
  inode: number;
  idx: number;
  version: number;
  length: number;
  crc32c: number;
  committed: number;
}

export function fail(code: ErrorCode, message: string): never {
  throw new DfsError(code, message);
}

/** Normalises a path as every command and query does (INVALID_PATH / NAME_TOO_LONG). */
export function splitPath(path: string): { path: string; comps: string[] } {
  const p = normalizePath(path);
  return { path: p, comps: pathComponents(p) };
}

/**
 * Read access to the namespace tables through prepared statements. Shared by the command
 * processor (inside apply) and by the read queries (Stat, List, GetFile). Pure SQL: no clock.
 */
export class Namespace {
  private readonly sChild: Database.Statement;
  private readonly sById: Database.Statement;
  private readonly sList: Database.Statement;
  private readonly sHasChild: Database.Statement;
  private readonly sChunks: Database.Statement;
  private readonly sLastChunk: Database.Statement;
  private readonly sChunk: Database.Statement;
  private readonly sPending: Database.Statement;
  private readonly sInline: Database.Statement;
  private readonly sLinkChild: Database.Statement;
  private readonly sListLinks: Database.Statement;
  private readonly sLinkCount: Database.Statement;
  private readonly sSubdirCount: Database.Statement;

  constructor(readonly db: Database.Database) {
    this.sChild = db.prepare('SELECT * FROM inodes WHERE parent = ? AND name = ?');
    this.sById = db.prepare('SELECT * FROM inodes WHERE id = ?');
    // With each entry's link count (nlinkOf), so a page is one statement, not one per entry.
    this.sList = db.prepare(`SELECT i.*, CASE WHEN i.type = 2 THEN 2 + (SELECT COUNT(*) FROM inodes c WHERE c.parent = i.id AND c.type = 2)
      ELSE 1 + (SELECT COUNT(*) FROM links l WHERE l.inode = i.id) END AS nlink
      FROM inodes i WHERE i.parent = ? AND i.name > ? ORDER BY i.name LIMIT ?`);
    this.sListLinks = db.prepare('SELECT name, inode FROM links WHERE parent = ? AND name > ? ORDER BY name LIMIT ?');
    this.sHasChild = db.prepare('SELECT 1 FROM inodes WHERE parent = ? UNION ALL SELECT 1 FROM links WHERE parent = ? LIMIT 1');
    this.sLinkChild = db.prepare('SELECT inode FROM links WHERE parent = ? AND name = ?').pluck();
    this.sLinkCount = db.prepare('SELECT COUNT(*) FROM links WHERE inode = ?').pluck();
    this.sSubdirCount = db.prepare('SELECT COUNT(*) FROM inodes WHERE parent = ? AND type = 2').pluck();
    this.sChunks = db.prepare('SELECT * FROM chunks WHERE inode = ? ORDER BY idx');
    this.sLastChunk = db.prepare('SELECT * FROM chunks WHERE inode = ? ORDER BY idx DESC LIMIT 1');
    this.sChunk = db.prepare('SELECT * FROM chunks WHERE handle = ?');
    this.sPending = db.prepare('SELECT * FROM inodes WHERE pending_parent = ? AND name = ?');
    this.sInline = db.prepare('SELECT data FROM inline_data WHERE inode = ?');
  }

  /** The entry `name` of directory `parent`: an inode row, or an inode reached through a hard link. */
  child(parent: number, name: string): InodeRow | undefined {
    const row = this.sChild.get(parent, name) as InodeRow | undefined;
    if (row) return row;
    const linked = this.sLinkChild.get(parent, name) as number | undefined;
    if (linked === undefined) return undefined;
    const target = this.byId(linked);
    return target && { ...target, parent, name, via_link: 1 };
  }

  /** POSIX link count: a file's names; a directory's 2 + its subdirectories ("." and each "..")). */
  nlinkOf(row: InodeRow): number {
    if (row.nlink !== undefined) return row.nlink;
    if (row.type === TYPE_DIR) return 2 + (this.sSubdirCount.get(row.id) as number);
    if (row.parent === null) return 0; // detached: being written, not yet named
    return 1 + (this.sLinkCount.get(row.id) as number);
  }

  byId(id: number): InodeRow | undefined {
    return this.sById.get(id) as InodeRow | undefined;
  }

  root(): InodeRow {
    return this.byId(ROOT_ID)!;
  }

  /** Children of `dir` with name > startAfter, in name (byte) order. */
  /** A directory's entries: its inode rows and its hard links (schema.ts), merged in name order. */
  children(dir: number, startAfter: string, limit: number): InodeRow[] {
    const rows = this.sList.all(dir, startAfter, limit) as InodeRow[];
    const links = this.sListLinks.all(dir, startAfter, limit) as Array<{ name: string; inode: number }>;
    if (links.length === 0) return rows; // the common case: one indexed range scan, as before links
    for (const l of links) {
      const target = this.byId(l.inode);
      if (target) rows.push({ ...target, parent: dir, name: l.name, via_link: 1, nlink: this.nlinkOf(target) });
    }
    // Byte order, as SQLite's BINARY collation sorts the names.
    rows.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    return rows.slice(0, limit);
  }

  hasChildren(dir: number): boolean {
    return this.sHasChild.get(dir, dir) !== undefined;
  }

  /** The bytes of a file kept inline (MAX_INLINE_BYTES), or undefined for a chunked one. */
  inlineOf(inode: number): Buffer | undefined {
    return (this.sInline.get(inode) as { data: Buffer } | undefined)?.data;
  }

  chunksOf(inode: number): ChunkRow[] {
    return this.sChunks.all(inode) as ChunkRow[];
  }

  lastChunk(inode: number): ChunkRow | undefined {
    return this.sLastChunk.get(inode) as ChunkRow | undefined;
  }

  chunk(handle: number): ChunkRow | undefined {
    return this.sChunk.get(handle) as ChunkRow | undefined;
  }

  /** Files under construction that will appear as `name` in `dir`. */
  pendingAt(dir: number, name: string): InodeRow[] {
    return this.sPending.all(dir, name) as InodeRow[];
  }

  /** Absolute path of an inode (a detached file: the path it will appear at). */
  pathOf(row: InodeRow): string {
    const names: string[] = [];
    let cur: InodeRow | undefined = row;
    for (let guard = 0; cur && cur.id !== ROOT_ID; guard++) {
      if (guard > 10_000) fail(ErrorCode.INTERNAL, `inode ${row.id}: parent cycle`);
      names.push(cur.name);
      const up: number | null = cur.parent ?? cur.pending_parent;
      cur = up === null ? undefined : this.byId(up);
    }
    return '/' + names.reverse().join('/');
  }
}

export function isDir(row: InodeRow): boolean {
  return row.type === TYPE_DIR;
}

/** Wire type of each inode type (the numbers agree; the table keeps the two apart). */
const FILE_TYPES: Record<number, FileType> = {
  [TYPE_FILE]: FileType.FILE,
  [TYPE_DIR]: FileType.DIRECTORY,
  [TYPE_SYMLINK]: FileType.SYMLINK,
  [TYPE_FIFO]: FileType.FIFO,
  [TYPE_SOCKET]: FileType.SOCKET,
  [TYPE_CHAR_DEVICE]: FileType.CHAR_DEVICE,
  [TYPE_BLOCK_DEVICE]: FileType.BLOCK_DEVICE,
};

/** A file with chunks or inline bytes (not a directory, symlink or special file). */
export function isRegular(row: InodeRow): boolean {
  return row.type === TYPE_FILE;
}

/** The status of `row` at `path`; `nlink` from Namespace.nlinkOf (absent: 1, or 2 for a directory). */
export function statusOf(row: InodeRow, path: string, nlink?: number): FileStatus {
  const dir = row.type === TYPE_DIR;
  return {
    path,
    name: row.id === ROOT_ID ? '' : row.name,
    type: FILE_TYPES[row.type] ?? FileType.FILE,
    size: dir ? 0 : row.size,
    mode: row.mode,
    mtimeMs: row.mtime,
    replication: row.replication,
    chunkSize: row.chunk_size,
    inode: row.id,
    underConstruction: row.under_construction === 1,
    chunkCount: row.chunk_count,
    owner: row.owner,
    group: row.grp,
    atimeMs: row.atime,
    symlinkTarget: row.target ?? '',
    nlink: nlink ?? (dir ? 2 : 1),
    ctimeMs: row.ctime,
    rdev: row.rdev,
  };
}

export { TYPE_DIR, TYPE_FILE };
