import { readFile } from 'node:fs/promises';
import { DfsError, ErrorCode, FileType, MAX_INLINE_BYTES, normalizePath, type FileStatus, parentPath } from '@dfs/proto';
import type { AttributeChange, FsBackend, GrowingFile, NodeCapacity } from '../src/fs/backend.js';

interface Node {
  type: FileType;
  data: Buffer;
  mode: number;
  mtimeMs: number;
  inode: number;
}

/**
 * An in-memory FsBackend with DfsClient's semantics: absolute paths, DfsError codes,
 * put replaces a file atomically with a new inode and creates missing parents.
 * `unavailable` makes every call fail as an unreachable cluster does.
 */
export class MemoryBackend implements FsBackend {
  private readonly nodes = new Map<string, Node>();
  private nextInode = 2;
  private tick = 1_700_000_000_000;
  unavailable = false;
  readonly calls = { tryStat: 0, list: 0, readChunks: 0, put: 0, streamedPuts: 0, bufferPuts: 0, inlineStats: 0, bytesRead: 0 };
  /** A streamed put fails once it has received more than this many bytes (fault injection). */
  failStreamsAfterBytes = Infinity;
  /** How far the last growing-file upload has been told its bytes are final. */
  streamedFinal = 0;
  /** Size of the pieces readChunks yields (small, to exercise reassembly). */
  pieceSize = 1000;
  /** Awaited before each piece a read yields, as it was when the read started: holds or fails reads in flight. */
  readHook: (() => Promise<void>) | undefined;
  /** readChunks calls not yet finished (a cancelled read finishes). */
  readsOpen = 0;

  constructor() {
    this.nodes.set('/', { type: FileType.DIRECTORY, data: Buffer.alloc(0), mode: 0o755, mtimeMs: this.clock(), inode: 1 });
  }

  private clock(): number {
    return (this.tick += 1000);
  }

  private check(): void {
    if (this.unavailable) throw new DfsError(ErrorCode.UNAVAILABLE, 'no master answered');
  }

  private status(path: string, node: Node): FileStatus {
    return {
      path,
      name: path === '/' ? '' : path.slice(path.lastIndexOf('/') + 1),
      type: node.type,
      size: node.type === FileType.FILE ? node.data.length : 0,
      mode: node.mode,
      mtimeMs: node.mtimeMs,
      replication: 3,
      owner: 'root',
      group: 'supergroup',
      atimeMs: node.mtimeMs,
      chunkSize: 1024 * 1024,
      inode: node.inode,
      underConstruction: false,
      chunkCount: 0,
      symlinkTarget: '',
      nlink: node.type === FileType.DIRECTORY ? 2 : 1,
      ctimeMs: node.mtimeMs,
      rdev: 0,
    };
  }

  private requireParentDir(path: string): void {
    const parent = this.nodes.get(parentPath(path));
    if (!parent) throw new DfsError(ErrorCode.NOT_FOUND, `${parentPath(path)}: no such directory`);
    if (parent.type !== FileType.DIRECTORY) throw new DfsError(ErrorCode.NOT_A_DIRECTORY, `${parentPath(path)}: not a directory`);
  }

  private children(dir: string): string[] {
    const prefix = dir === '/' ? '/' : `${dir}/`;
    return [...this.nodes.keys()].filter((p) => p !== '/' && p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).sort();
  }

  async tryStat(path: string): Promise<FileStatus | null> {
    this.check();
    this.calls.tryStat++;
    const p = normalizePath(path);
    const node = this.nodes.get(p);
    return node ? this.status(p, node) : null;
  }

  /** As DfsClient: a file of at most MAX_INLINE_BYTES is "kept inline", and its bytes come with the stat. */
  async statWithInline(path: string): Promise<{ file: FileStatus; inline?: Buffer } | null> {
    const file = await this.tryStat(path);
    if (!file) return null;
    const node = this.nodes.get(normalizePath(path))!;
    if (node.type !== FileType.FILE || node.data.length > MAX_INLINE_BYTES) return { file };
    this.calls.inlineStats++;
    return { file, inline: Buffer.from(node.data) };
  }

  async *list(path: string): AsyncGenerator<FileStatus> {
    this.check();
    this.calls.list++;
    const p = normalizePath(path);
    const node = this.nodes.get(p);
    if (!node) throw new DfsError(ErrorCode.NOT_FOUND, `${p}: no such directory`);
    if (node.type !== FileType.DIRECTORY) throw new DfsError(ErrorCode.NOT_A_DIRECTORY, `${p}: not a directory`);
    for (const child of this.children(p)) yield this.status(child, this.nodes.get(child)!);
  }

  async mkdir(path: string, opts: { parents?: boolean; mode?: number }): Promise<FileStatus> {
    this.check();
    const p = normalizePath(path);
    if (this.nodes.has(p)) throw new DfsError(ErrorCode.ALREADY_EXISTS, `${p}: exists`);
    if (opts.parents && !this.nodes.has(parentPath(p))) await this.mkdir(parentPath(p), opts);
    this.requireParentDir(p);
    const node: Node = { type: FileType.DIRECTORY, data: Buffer.alloc(0), mode: opts.mode || 0o755, mtimeMs: this.clock(), inode: this.nextInode++ };
    this.nodes.set(p, node);
    return this.status(p, node);
  }

  async rm(path: string, opts: { recursive?: boolean }): Promise<void> {
    this.check();
    const p = normalizePath(path);
    if (p === '/') throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'cannot delete /');
    if (!this.nodes.has(p)) throw new DfsError(ErrorCode.NOT_FOUND, `${p}: no such file`);
    const below = [...this.nodes.keys()].filter((k) => k.startsWith(`${p}/`));
    if (below.length > 0 && !opts.recursive) throw new DfsError(ErrorCode.NOT_EMPTY, `${p}: not empty`);
    for (const k of [p, ...below]) this.nodes.delete(k);
  }

  async mv(src: string, dst: string, opts: { overwrite?: boolean }): Promise<void> {
    this.check();
    const s = normalizePath(src);
    const d = normalizePath(dst);
    if (!this.nodes.has(s)) throw new DfsError(ErrorCode.NOT_FOUND, `${s}: no such file`);
    const existing = this.nodes.get(d);
    if (existing) {
      if (!opts.overwrite) throw new DfsError(ErrorCode.ALREADY_EXISTS, `${d}: exists`);
      // As the master: a directory replaces an empty directory, a file a file.
      const srcDir = this.nodes.get(s)!.type === FileType.DIRECTORY;
      if (existing.type === FileType.DIRECTORY && !srcDir) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${d}: is a directory`);
      if (existing.type !== FileType.DIRECTORY && srcDir) throw new DfsError(ErrorCode.NOT_A_DIRECTORY, `${d}: not a directory`);
      if ([...this.nodes.keys()].some((k) => k.startsWith(`${d}/`))) throw new DfsError(ErrorCode.NOT_EMPTY, `${d}: not empty`);
      this.nodes.delete(d);
    }
    this.requireParentDir(d);
    const moved = [...this.nodes.entries()].filter(([k]) => k === s || k.startsWith(`${s}/`));
    for (const [k] of moved) this.nodes.delete(k);
    for (const [k, node] of moved) this.nodes.set(d + k.slice(s.length), node);
  }

  async put(source: string | NodeJS.ReadableStream | Uint8Array, remote: string, opts: { overwrite?: boolean; mode?: number }): Promise<FileStatus> {
    this.check();
    this.calls.put++;
    const p = normalizePath(remote);
    let data: Buffer;
    if (source instanceof Uint8Array) {
      this.calls.bufferPuts++;
      data = Buffer.from(source); // a copy: the caller's buffer is its spool
    } else if (typeof source === 'string') {
      data = await readFile(source);
    } else {
      this.calls.streamedPuts++;
      const parts: Buffer[] = [];
      let received = 0;
      for await (const part of source as AsyncIterable<Buffer>) {
        parts.push(part);
        received += part.length;
        if (received > this.failStreamsAfterBytes) throw new DfsError(ErrorCode.UNAVAILABLE, 'stream broke');
      }
      data = Buffer.concat(parts);
      this.check();
    }
    return this.store(p, data, opts);
  }

  private async store(p: string, data: Buffer, opts: { overwrite?: boolean; mode?: number }): Promise<FileStatus> {
    const existing = this.nodes.get(p);
    if (existing?.type === FileType.DIRECTORY) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${p}: is a directory`);
    if (existing && !opts.overwrite) throw new DfsError(ErrorCode.ALREADY_EXISTS, `${p}: exists`);
    if (!this.nodes.has(parentPath(p))) await this.mkdir(parentPath(p), { parents: true });
    const node: Node = { type: FileType.FILE, data, mode: opts.mode || 0o644, mtimeMs: this.clock(), inode: this.nextInode++ };
    this.nodes.set(p, node);
    this.nodes.get(parentPath(p))!.mtimeMs = node.mtimeMs; // as the master: the parent's mtime is the command's time
    return this.status(p, node);
  }

  /** As DfsClient: waits for each 64 KiB piece to be final, then stores what the local file holds. */
  async putGrowingFile(localPath: string, remote: string, growing: GrowingFile, opts: { overwrite?: boolean; mode?: number }): Promise<FileStatus> {
    this.check();
    this.calls.put++;
    this.calls.streamedPuts++;
    const piece = 64 * 1024;
    let size = 0;
    for (;;) {
      const end = await growing.final(size + piece);
      this.streamedFinal = end;
      if (end > this.failStreamsAfterBytes) throw new DfsError(ErrorCode.UNAVAILABLE, 'stream broke');
      const full = end === size + piece;
      size = end;
      if (!full) break;
    }
    this.check();
    return this.store(normalizePath(remote), (await readFile(localPath)).subarray(0, size), opts);
  }

  async *readChunks(path: string, opts: { start?: number; end?: number; signal?: AbortSignal }): AsyncGenerator<Buffer> {
    this.check();
    this.calls.readChunks++;
    const p = normalizePath(path);
    const node = this.nodes.get(p);
    if (!node) throw new DfsError(ErrorCode.NOT_FOUND, `${p}: no such file`);
    if (node.type === FileType.DIRECTORY) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${p}: is a directory`);
    const data = node.data;
    const end = Math.min(data.length, (opts.end ?? data.length - 1) + 1);
    const hook = this.readHook;
    this.readsOpen++;
    try {
      for (let pos = opts.start ?? 0; pos < end; pos += this.pieceSize) {
        if (hook) await hook();
        opts.signal?.throwIfAborted();
        const piece = Buffer.from(data.subarray(pos, Math.min(end, pos + this.pieceSize)));
        this.calls.bytesRead += piece.length;
        yield piece;
      }
    } finally {
      this.readsOpen--;
    }
  }

  async clusterStatus(): Promise<{ chunkservers: NodeCapacity[] }> {
    this.check();
    const node = { state: 'live', capacityBytes: 100 * 2 ** 30, usedBytes: 30 * 2 ** 30, freeBytes: 70 * 2 ** 30 };
    return { chunkservers: [node, node, { ...node, state: 'dead' }] };
  }

  // ---- test helpers ----

  /** Writes a file directly, as another client would. */
  putBytes(path: string, data: Buffer, mode = 0o644): void {
    const p = normalizePath(path);
    this.nodes.set(p, { type: FileType.FILE, data: Buffer.from(data), mode, mtimeMs: this.clock(), inode: this.nextInode++ });
  }

  bytes(path: string): Buffer | undefined {
    const node = this.nodes.get(normalizePath(path));
    return node?.type === FileType.FILE ? node.data : undefined;
  }

  exists(path: string): boolean {
    return this.nodes.has(normalizePath(path));
  }
}

/** A backend that can store mode and mtime (as DfsClient will once the master has the RPC). */
export class MemoryBackendWithAttributes extends MemoryBackend {
  readonly changes: Array<{ path: string; change: AttributeChange }> = [];

  async setAttributes(path: string, change: AttributeChange): Promise<void> {
    this.changes.push({ path, change });
  }
}
