import { setMaxListeners } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream as fsCreateReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat as fsStat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DfsError,
  ErrorCode,
  FileType,
  MAX_INLINE_BYTES,
  normalizePath,
  toDfsError,
  type ChunkLocation,
  type ClusterStatusResponse,
  type ContentSummaryResponse,
  type CreateTokenResponse,
  type FileStatus,
  type FsckResponse,
  type SnapshotResponse,
  type MasterServiceClient,
  type WhoAmIResponse,
} from '@dfs/proto';
import type { Security } from '@dfs/security';
import { resolveSecurity } from './config.js';
import { FileWriter, type FileWriterOptions } from './file-writer.js';
import { FollowerReads } from './follower-reads.js';
import { readFileRange } from './file-reader.js';
import { readLocalRange } from './local-file.js';
import type { RangeReadContext } from './chunk-read.js';
import { MasterPool } from './master-pool.js';
import { backupSources, takeBackup } from './metadata-backup.js';
import { ReadPolicy, type ReadPolicyName } from './read-policy.js';
import type { UnaryMethod } from './rpc.js';
import { chunkserverPool, delay, type ChunkserverPool } from './rpc.js';

export interface DfsClientOptions {
  /** Master gRPC addresses (host:port). */
  masters: string[];
  /** A master an earlier process found leading (one of `masters`), asked first: see MasterPoolOptions. */
  leaderHint?: string;
  /**
   * Mutual TLS from a credentials directory (ca.crt, tls.crt, tls.key), or plaintext for an
   * --insecure cluster. Default: found like the masters (DFS_TLS_DIR, the config file, the
   * local cluster's cluster.json); see resolveSecurity.
   */
  security?: Security;
  /** Deadline of one RPC attempt against one master. Default 5 s. */
  callTimeoutMs?: number;
  /** How long master calls keep retrying through elections. Default 30 s. */
  retryWindowMs?: number;
  readPolicy?: ReadPolicyName;
  /**
   * Chunks uploaded at once by put. Default: enough to keep 32 MiB in flight, 4 to 16
   * (4 for 64 MiB chunks, 16 for 1 MiB chunks); a stream source holds at most 128 MiB.
   */
  parallelChunks?: number;
  /**
   * ReadChunk calls a read keeps running at once (one per chunk, replicas in policy order; the
   * next chunk's call starts as one ends). Default: 8 MiB worth of chunks, 1 to 8.
   */
  parallelReads?: number;
  /**
   * How long a read waits for a replica's next message before it resumes on another replica from
   * the last verified byte (a dead or stopped chunkserver). Default 15 s.
   */
  readStallMs?: number;
  /**
   * Keep files of at most MAX_INLINE_BYTES inline in the metadata (one CreateFile, no
   * chunkserver). Default true. An append to an inline file rewrites it conditionally (it
   * replaces only the inode it read, else reads again), so concurrent appenders lose nothing.
   * False writes every file in chunks (a test that needs chunks and replicas of a small file).
   */
  inlineSmallFiles?: boolean;
  /** Identifies this client's writer leases. */
  clientId?: string;
  /**
   * Fewest replicas that must hold each written chunk durably before a put or append
   * succeeds. Default: the file's replication factor (every configured replica).
   */
  minReplicas?: number;
  /**
   * Spread read-only calls (stat, list, locate and the lookups of get) over every master,
   * followers included, with read-your-writes (follower-reads.ts). Default false: reads go
   * to the leader and are linearizable.
   */
  followerReads?: boolean;
  /** A bearer token (`dfs admin token create`): the masters treat every call as its user. */
  token?: string;
  /** Bits cleared from the mode of new files and directories (POSIX umask). Default 0o022. */
  umask?: number;
}

/** What SetAttr changes; an absent field keeps its value. */
export interface Attributes {
  mode?: number;
  owner?: string;
  group?: string;
  mtimeMs?: number;
  atimeMs?: number;
}

export const DEFAULT_UMASK = 0o022;

export interface CallOptions {
  signal?: AbortSignal;
  /** Carried in gRPC metadata to every master and chunkserver the call touches. */
  requestId?: string;
  /**
   * rm and mv: the operation's id (default: a fresh one). A caller that never learned an
   * operation's outcome retries it with the same id, and the master answers with the first outcome.
   */
  opId?: string;
}

export interface PutOptions extends CallOptions {
  overwrite?: boolean;
  /** Replication factor; 0 or absent = cluster default. */
  replication?: number;
  mode?: number;
  chunkSize?: number;
  /** Called as bytes are acknowledged, for progress bars. */
  onProgress?: (bytesDone: number) => void;
  /** Overrides the client's minReplicas for this write. */
  minReplicas?: number;
}

export type AppendOptions = Omit<PutOptions, 'overwrite' | 'replication' | 'mode' | 'chunkSize'>;

export interface ReadRangeOptions extends CallOptions {
  start?: number;
  /** Inclusive, as fs.createReadStream. */
  end?: number;
}

export interface ListOptions extends CallOptions {
  pageSize?: number;
  staleOk?: boolean;
}

const DEFAULTS = {
  callTimeoutMs: 5_000,
  readStallMs: 15_000,
  retryWindowMs: 30_000,
  leaseRenewMs: 10_000,
  maxAttempts: 4,
};

/** Most bytes of a stream source held in memory by a put or append (the RSS bound is 300 MiB). */
const STREAM_HELD_BYTES = 128 * 1024 * 1024;

const MAX_PARALLEL_CHUNKS = 16;
/** Conditional rewrites of an inline file that lost to another writer before the append gives up. */
const REWRITE_ATTEMPTS = 64;
/** Longest random pause (ms) before reading a contended inline file again. */
const REWRITE_MAX_BACKOFF_MS = 100;
/** Size of one local file read (put) or gathered write (get): one thread-pool round trip per MiB, not per block. */
const LOCAL_IO_BYTES = 1024 * 1024;

/** Chunks in flight for a put: 32 MiB worth, at least 4, at most 16 (each is a pipeline of 3 streams). */
function autoParallelChunks(chunkSize: number): number {
  return Math.max(4, Math.min(MAX_PARALLEL_CHUNKS, Math.ceil((32 * 1024 * 1024) / Math.max(1, chunkSize))));
}

/**
 * ReadChunk calls running at once for a read (one per chunk; the next chunk's starts as one
 * ends): 8 MiB worth of chunks, 1 to 8. One long call costs the least CPU per GiB
 * (make bench-get-pattern), and each call running in parallel buffers its own share.
 */
function autoParallelReads(chunks: readonly ChunkLocation[]): number {
  const chunk = Math.max(1, ...chunks.slice(0, 8).map((c) => c.length));
  return Math.max(1, Math.min(8, Math.ceil((8 * 1024 * 1024) / chunk)));
}

/**
 * A signal that follows the caller's and may carry any number of listeners: every chunk
 * and RPC in flight listens on it, which would trip Node's 10-listener leak warning on the
 * caller's own signal.
 */
function fanOutSignal(signal: AbortSignal | undefined): AbortSignal | undefined {
  if (!signal) return undefined;
  const inner = new AbortController();
  setMaxListeners(0, inner.signal);
  if (signal.aborted) inner.abort(signal.reason);
  else signal.addEventListener('abort', () => inner.abort(signal.reason), { once: true });
  return inner.signal;
}

/** Sums one fsck page into the running total (problems kept up to `maxProblems`). */
function addFsckPage(t: FsckResponse, p: FsckResponse, maxProblems: number): FsckResponse {
  const room = Math.max(0, maxProblems - t.problems.length);
  return {
    healthy: t.healthy && p.healthy,
    files: t.files + p.files,
    directories: t.directories + p.directories,
    totalBytes: t.totalBytes + p.totalBytes,
    totalChunks: t.totalChunks + p.totalChunks,
    underReplicated: t.underReplicated + p.underReplicated,
    missing: t.missing + p.missing,
    corrupt: t.corrupt + p.corrupt,
    overReplicated: t.overReplicated + p.overReplicated,
    problems: [...t.problems, ...p.problems.slice(0, room)],
    problemsOmitted: t.problemsOmitted + p.problemsOmitted + Math.max(0, p.problems.length - room),
    safeMode: t.safeMode || p.safeMode,
    replicationQueue: p.replicationQueue,
    replicationInflight: p.replicationInflight,
    nextStartAfter: p.nextStartAfter ?? '',
    // Every page carries the whole list (soft state, not part of the walk).
    setAside: p.setAside,
    setAsideOmitted: p.setAsideOmitted,
  };
}

function isReadable(value: unknown): value is NodeJS.ReadableStream {
  return typeof value === 'object' && value !== null && typeof (value as NodeJS.ReadableStream).pipe === 'function';
}

/** The client every tool uses: the CLI, the FUSE adapter, tests and benchmarks. */
export class DfsClient {
  readonly masters: MasterPool;
  /** Set when the client spreads reads over followers (options.followerReads). */
  readonly followerReads: FollowerReads | undefined;
  private readonly chunkservers: ChunkserverPool;
  /** Largest file put inline (-1: none; see `inlineSmallFiles`). */
  private readonly inlineLimit: number;
  readonly security: Security;
  private readonly readPolicy: ReadPolicy;
  readonly clientId: string;
  private readonly opts: Required<Omit<DfsClientOptions, 'readPolicy' | 'clientId' | 'masters' | 'leaderHint' | 'security' | 'minReplicas' | 'parallelChunks' | 'parallelReads' | 'followerReads' | 'token' | 'umask' | 'inlineSmallFiles'>> & {
    parallelChunks?: number;
    parallelReads?: number;
  };
  private readonly minReplicas: number | undefined;
  readonly umask: number;

  constructor(options: DfsClientOptions) {
    this.inlineLimit = (options.inlineSmallFiles ?? true) ? MAX_INLINE_BYTES : -1;
    this.opts = {
      callTimeoutMs: options.callTimeoutMs ?? DEFAULTS.callTimeoutMs,
      readStallMs: options.readStallMs ?? DEFAULTS.readStallMs,
      retryWindowMs: options.retryWindowMs ?? DEFAULTS.retryWindowMs,
      ...(options.parallelChunks ? { parallelChunks: options.parallelChunks } : {}),
      ...(options.parallelReads ? { parallelReads: options.parallelReads } : {}),
    };
    this.security = options.security ?? resolveSecurity().security;
    this.masters = new MasterPool({
      masters: options.masters,
      security: this.security,
      callTimeoutMs: this.opts.callTimeoutMs,
      retryWindowMs: this.opts.retryWindowMs,
      ...(options.token ? { token: options.token } : {}),
      ...(options.leaderHint ? { leaderHint: options.leaderHint } : {}),
    });
    this.chunkservers = chunkserverPool(this.security);
    this.followerReads = options.followerReads ? new FollowerReads(this.masters, this.opts.callTimeoutMs) : undefined;
    this.umask = (options.umask ?? DEFAULT_UMASK) & 0o777;
    this.readPolicy = new ReadPolicy(options.readPolicy ?? 'round-robin');
    this.minReplicas = options.minReplicas;
    this.clientId = options.clientId ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  }

  close(): void {
    this.masters.close();
    this.chunkservers.close();
  }

  // ---- namespace ----

  /** A read-only master call: spread over followers when enabled (and not stale_ok), else on the leader. */
  private read<Req extends { staleOk: boolean; minIndex?: number }, Res>(
    pick: (client: MasterServiceClient) => UnaryMethod<Req, Res>,
    request: Req,
    opts: CallOptions,
  ): Promise<Res> {
    if (this.followerReads && !request.staleOk) return this.followerReads.call(pick, request, opts);
    return this.masters.call(pick, request, opts);
  }

  async stat(path: string, opts: CallOptions & { staleOk?: boolean } = {}): Promise<FileStatus> {
    const res = await this.read((c) => c.stat, { path: normalizePath(path), staleOk: opts.staleOk ?? false }, opts);
    if (!res.file) throw new DfsError(ErrorCode.NOT_FOUND, `${path}: no such file or directory`);
    return res.file;
  }

  /** Returns null instead of throwing NOT_FOUND. */
  async tryStat(path: string, opts: CallOptions = {}): Promise<FileStatus | null> {
    try {
      return await this.stat(path, opts);
    } catch (err) {
      if (DfsError.is(err, ErrorCode.NOT_FOUND)) return null;
      throw err;
    }
  }

  /** Lists a directory page by page; memory stays at one page whatever the directory size. */
  async *list(path: string, opts: ListOptions = {}): AsyncGenerator<FileStatus> {
    const dir = normalizePath(path);
    let startAfter = '';
    for (;;) {
      const res = await this.read(
        (c) => c.list,
        { path: dir, startAfter, limit: opts.pageSize ?? 1000, staleOk: opts.staleOk ?? false },
        opts,
      );
      for (const entry of res.entries) yield entry;
      const last = res.entries[res.entries.length - 1];
      if (!res.hasMore || !last) return;
      startAfter = last.name;
    }
  }

  async mkdir(path: string, opts: CallOptions & { parents?: boolean; mode?: number } = {}): Promise<FileStatus | undefined> {
    // One op id for every retry of this call: the master answers a retry with the first result.
    const mode = (opts.mode ?? 0o777) & ~this.umask;
    const res = await this.masters.call((c) => c.mkdir, { path: normalizePath(path), parents: opts.parents ?? false, mode, opId: randomUUID() }, opts);
    return res.dir;
  }

  // ---- POSIX entries (docs/posix.md): the library reports symlinks, it never follows them ----

  /** A symbolic link at `path` whose content is `target` (stored as given). */
  async symlink(target: string, path: string, opts: CallOptions = {}): Promise<FileStatus> {
    const res = await this.masters.call((c) => c.symlink, { path: normalizePath(path), target, opId: randomUUID() }, opts);
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, 'Symlink returned no file');
    return res.file;
  }

  /** What the symbolic link at `path` points at (INVALID_ARGUMENT when it is not one). */
  async readlink(path: string, opts: CallOptions = {}): Promise<string> {
    const status = await this.stat(path, opts);
    if (status.type !== FileType.SYMLINK) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `not a symbolic link: ${status.path}`);
    return status.symlinkTarget;
  }

  /** A hard link: `dst` becomes another name of the file at `src` (one inode, shared content). */
  async link(src: string, dst: string, opts: CallOptions = {}): Promise<FileStatus> {
    const res = await this.masters.call((c) => c.link, { src: normalizePath(src), dst: normalizePath(dst), opId: randomUUID() }, opts);
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, 'Link returned no file');
    return res.file;
  }

  /** A FIFO, socket or device node (metadata only); the umask applies to `mode`. */
  async mknod(path: string, type: FileType, opts: CallOptions & { mode?: number; rdev?: number } = {}): Promise<FileStatus> {
    const mode = (opts.mode ?? 0o666) & ~this.umask;
    const res = await this.masters.call((c) => c.mknod, { path: normalizePath(path), type, mode, rdev: opts.rdev ?? 0, opId: randomUUID() }, opts);
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, 'Mknod returned no file');
    return res.file;
  }

  // ---- users: attributes, quotas, replication, identity ----

  /** chmod / chown / chgrp / utimes in one call: sets what is given. */
  async setAttributes(path: string, attrs: Attributes, opts: CallOptions = {}): Promise<FileStatus> {
    const res = await this.masters.call((c) => c.setAttr, { path: normalizePath(path), ...attrs, opId: randomUUID() }, opts);
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, 'SetAttr returned no file');
    return res.file;
  }

  /** Directory quotas (superuser): a name quota and/or a space quota (bytes x replication). */
  async setQuota(path: string, quota: { files?: number; space?: number }, opts: CallOptions = {}): Promise<void> {
    await this.masters.call((c) => c.setQuota, { path: normalizePath(path), ...quota, clear: false }, opts);
  }

  async clearQuota(path: string, opts: CallOptions = {}): Promise<void> {
    await this.masters.call((c) => c.setQuota, { path: normalizePath(path), clear: true }, opts);
  }

  /** Names, bytes and space under a path, and its quotas (-1 = none). */
  async contentSummary(path: string, opts: CallOptions = {}): Promise<ContentSummaryResponse> {
    return this.masters.call((c) => c.contentSummary, { path: normalizePath(path) }, opts);
  }

  /** Changes a file's replication target; the master then adds or trims replicas. */
  async setReplication(path: string, replication: number, opts: CallOptions = {}): Promise<FileStatus> {
    const res = await this.masters.call((c) => c.setReplication, { path: normalizePath(path), replication }, opts);
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, 'SetReplication returned no file');
    return res.file;
  }

  /** Who the cluster thinks this client is. */
  async whoami(opts: CallOptions = {}): Promise<WhoAmIResponse> {
    return this.masters.call((c) => c.whoAmI, {}, opts);
  }

  /** Issues a bearer token for `user` (superuser only). */
  async createToken(user: string, groups: string[], ttlMs = 0, opts: CallOptions = {}): Promise<CreateTokenResponse> {
    return this.masters.call((c) => c.createToken, { user, groups, ttlMs }, opts);
  }

  /** Revokes a token, given the token itself or its id (superuser only). */
  async revokeToken(tokenOrId: string, opts: CallOptions = {}): Promise<string> {
    return (await this.masters.call((c) => c.revokeToken, { token: tokenOrId }, opts)).tokenId;
  }

  async rm(path: string, opts: CallOptions & { recursive?: boolean; skipTrash?: boolean } = {}): Promise<void> {
    await this.masters.call(
      (c) => c.delete,
      { path: normalizePath(path), recursive: opts.recursive ?? false, skipTrash: opts.skipTrash ?? false, opId: opts.opId ?? randomUUID() },
      opts,
    );
  }

  async mv(src: string, dst: string, opts: CallOptions & { overwrite?: boolean } = {}): Promise<void> {
    await this.masters.call(
      (c) => c.rename,
      { src: normalizePath(src), dst: normalizePath(dst), overwrite: opts.overwrite ?? false, opId: opts.opId ?? randomUUID() },
      opts,
    );
  }

  /** Adds a master to the Raft group (it must be running with --join); waits until it votes. */
  async addMaster(id: string, address: string, opts: CallOptions = {}): Promise<void> {
    await this.masters.call((c) => c.addMaster, { id, address }, { ...opts, timeoutMs: 90_000 });
  }

  /** Removes a master from the Raft group. */
  async removeMaster(id: string, opts: CallOptions = {}): Promise<void> {
    await this.masters.call((c) => c.removeMaster, { id }, { ...opts, timeoutMs: 60_000 });
  }

  async clusterStatus(opts: CallOptions = {}): Promise<ClusterStatusResponse> {
    return this.masters.call((c) => c.clusterStatus, {}, opts);
  }

  /** `dfs snapshot …`: allow, disallow, create, delete, list, diff (packages/master state/snapshots.ts). */
  async snapshot(op: 'allow' | 'disallow' | 'create' | 'delete' | 'list' | 'diff', path: string, opts: CallOptions & { name?: string; toName?: string } = {}): Promise<SnapshotResponse> {
    const write = op === 'create' || op === 'delete';
    return this.masters.call(
      (c) => c.snapshot,
      { op, path: path ? normalizePath(path) : '', name: opts.name ?? '', toName: opts.toName ?? '', opId: write ? randomUUID() : '', staleOk: false },
      opts,
    );
  }

  /**
   * A metadata backup (admin): the backup file's bytes from a caught-up follower when there is
   * one, else the leader, written to the stream `open` returns (called again for each master
   * tried). Verifying the file is the caller's (`@dfs/master` verifyBackup; the CLI does).
   */
  async backupMetadata(open: () => Writable, opts: CallOptions & { timeoutMs?: number } = {}): Promise<{ from: { id: string; address: string; role: string }; bytes: number }> {
    const sources = backupSources(await this.clusterStatus(opts));
    const { from, bytes } = await takeBackup(sources, (a) => this.masters.clientFor(a), open, opts.timeoutMs ?? 600_000);
    return { from: { id: from.id, address: from.address, role: from.role }, bytes };
  }

  /**
   * fsck of the whole tree under `path`, page after page (the master walks a bounded number
   * of entries per call), summed into one answer; at most `maxProblems` problem chunks listed.
   */
  async fsck(path = '/', opts: CallOptions & { maxProblems?: number; pageFiles?: number } = {}): Promise<FsckResponse> {
    const maxProblems = opts.maxProblems ?? 1000;
    let total: FsckResponse | undefined;
    let startAfter = '';
    for (;;) {
      const page = await this.masters.call((c) => c.fsck, { path, maxProblems: Math.max(1, maxProblems), startAfter, maxFiles: opts.pageFiles ?? 0 }, opts);
      total = total ? addFsckPage(total, page, maxProblems) : { ...page, problems: page.problems.slice(0, maxProblems), problemsOmitted: page.problemsOmitted + Math.max(0, page.problems.length - maxProblems) };
      startAfter = page.nextStartAfter ?? '';
      if (!startAfter) break;
    }
    return { ...total, nextStartAfter: '' };
  }

  /** A file's status and its chunks with live replica locations. */
  /** Where a file's bytes are: its chunks, or `inline` for a small file kept in the metadata. */
  async locate(path: string, opts: CallOptions = {}): Promise<Located> {
    const res = await this.read((c) => c.getFile, { path: normalizePath(path), staleOk: false }, opts);
    if (!res.file) throw new DfsError(ErrorCode.NOT_FOUND, `${path}: no such file`);
    if (res.file.type === FileType.DIRECTORY) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${path}: is a directory`);
    return { file: res.file, chunks: res.chunks, ...(res.inline ? { inline: Buffer.from(res.inlineData ?? Buffer.alloc(0)) } : {}) };
  }

  /**
   * A file of at most MAX_INLINE_BYTES: one CreateFile carrying the bytes, one log entry,
   * no chunkserver (inline data; the trade-off is in packages/master/DESIGN.md).
   */
  private async putInline(path: string, data: Buffer, opts: PutOptions, mode: number, replaces?: number): Promise<FileStatus> {
    const res = await this.masters.call(
      (c) => c.createFile,
      {
        path,
        overwrite: opts.overwrite ?? false,
        replication: opts.replication ?? 0,
        mode,
        clientId: this.clientId,
        chunkSize: opts.chunkSize ?? 0,
        opId: randomUUID(),
        allocateFirstChunk: false,
        inline: true,
        inlineData: data,
        ...(replaces ? { replacesInode: replaces } : {}),
      },
      { signal: opts.signal, requestId: opts.requestId },
    );
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, `${path}: CreateFile returned no file`);
    opts.onProgress?.(data.length);
    return res.file;
  }

  // ---- data ----

  /**
   * Writes `source` (a local file path or a readable stream) to `remote`. The file
   * becomes visible only once every chunk is durable on its replicas.
   */
  async put(source: string | NodeJS.ReadableStream | Uint8Array, remote: string, opts: PutOptions = {}): Promise<FileStatus> {
    const path = normalizePath(remote);
    if (source instanceof Uint8Array) {
      const bytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
      if (bytes.length <= this.inlineLimit) return this.putInline(path, bytes, opts, this.newFileMode(opts));
      source = Readable.from([bytes]);
    }
    if (typeof source === 'string') {
      const info = await fsStat(source).catch((err: unknown) => {
        throw toDfsError(err);
      });
      if (info.isDirectory()) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${source}: is a directory`);
      if (info.size <= this.inlineLimit) {
        const bytes = await readFile(source).catch((err: unknown) => {
          throw toDfsError(err);
        });
        if (bytes.length <= this.inlineLimit) return this.putInline(path, bytes, opts, this.newFileMode(opts));
      }
      return this.putFile(source, info.size, path, opts);
    }
    if (!isReadable(source)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'put: source must be a path or a readable stream');
    if (this.inlineLimit >= 0) {
      // A stream that ends within the inline limit becomes an inline file.
      const head = await peekStream(source as AsyncIterable<Buffer | string>, this.inlineLimit);
      if (head.ended) return this.putInline(path, head.bytes, opts, this.newFileMode(opts));
      source = Readable.from(head.rest);
    }
    const writer = await this.openWriter(path, opts, this.newFileMode(opts), MAX_PARALLEL_CHUNKS);
    writer.setParallel(this.opts.parallelChunks ?? autoParallelChunks(writer.chunkSize));
    writer.limitHeldBytes(STREAM_HELD_BYTES);
    return this.pumpStream(writer, source, opts);
  }

  private writerOptions(opts: PutOptions, parallelChunks: number): FileWriterOptions {
    return {
      clientId: this.clientId,
      requestId: opts.requestId,
      signal: fanOutSignal(opts.signal),
      parallelChunks,
      maxAttempts: DEFAULTS.maxAttempts,
      leaseRenewMs: DEFAULTS.leaseRenewMs,
      minReplicas: opts.minReplicas ?? this.minReplicas,
    };
  }

  /** `allocateFirstChunk`: CreateFile also allocates chunk 0 (saves a round trip when there is data). */
  /** `replaces`: a conditional rewrite of that inode (see rewriteInline). */
  /** The mode of a file this call creates: what was asked (default rw for all) less the umask. */
  private newFileMode(opts: PutOptions): number {
    return (opts.mode ?? 0o666) & ~this.umask;
  }

  /** `mode`: the file's final mode (newFileMode, or the mode of the inline file being rewritten). */
  private openWriter(path: string, opts: PutOptions, mode: number, parallelChunks: number, allocateFirstChunk = true, replaces?: number): Promise<FileWriter> {
    return FileWriter.create(
      this.masters,
      this.chunkservers,
      path,
      { overwrite: opts.overwrite ?? false, replication: opts.replication ?? 0, mode, chunkSize: opts.chunkSize ?? 0, allocateFirstChunk, replaces },
      this.writerOptions(opts, parallelChunks),
    );
  }

  /**
   * Adds the bytes of `source` (a local path, a readable stream or a buffer) at the end of `remote`:
   * first filling its last chunk through that chunk's primary, then in new chunks. One
   * writer per file: while another client appends or writes it, this fails with
   * LEASE_HELD. Readers see the old length until the append completes, then the new one;
   * a failed append leaves the file as it was.
   */
  async append(source: string | NodeJS.ReadableStream | Uint8Array, remote: string, opts: AppendOptions = {}): Promise<FileStatus> {
    const path = normalizePath(remote);
    if (source instanceof Uint8Array) source = Readable.from([Buffer.from(source.buffer, source.byteOffset, source.byteLength)]);
    let size = -1;
    if (typeof source === 'string') {
      const info = await fsStat(source).catch((err: unknown) => {
        throw toDfsError(err);
      });
      if (info.isDirectory()) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${source}: is a directory`);
      size = info.size;
    } else if (!isReadable(source)) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'append: source must be a path or a readable stream');
    }
    let writer: FileWriter;
    try {
      writer = await FileWriter.openAppend(this.masters, this.chunkservers, path, this.writerOptions(opts, MAX_PARALLEL_CHUNKS));
    } catch (err) {
      if (!DfsError.is(err, ErrorCode.INVALID_ARGUMENT)) throw err;
      const located = await this.locate(path, opts);
      if (!located.inline) throw err;
      return this.rewriteInline(located, source, path, opts);
    }
    writer.setParallel(this.opts.parallelChunks ?? autoParallelChunks(writer.chunkSize));
    if (typeof source !== 'string') writer.limitHeldBytes(STREAM_HELD_BYTES);
    try {
      const room = writer.appendRoom;
      if (typeof source === 'string') {
        let start = 0;
        const fill = Math.min(room, size);
        if (fill > 0 && (await writer.fillLastChunk(() => fsCreateReadStream(source, { start: 0, end: fill - 1, highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>))) {
          start = fill;
          opts.onProgress?.(start);
        }
        return await this.feedFile(writer, source, start, size, opts);
      }
      // A stream: hold the first `room` bytes (at most one chunk) so a failed fill can be replayed.
      const it = (source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
      const head: Buffer[] = [];
      let headBytes = 0;
      let rest: Buffer | undefined;
      while (headBytes < room) {
        const r = await it.next();
        if (r.done) break;
        const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
        const take = Math.min(buf.length, room - headBytes);
        head.push(buf.subarray(0, take));
        headBytes += take;
        if (take < buf.length) rest = buf.subarray(take);
      }
      const replay = async function* (): AsyncGenerator<Buffer> {
        yield* head;
      };
      const filled = headBytes > 0 && (await writer.fillLastChunk(replay));
      const remaining = async function* (): AsyncGenerator<Buffer | string> {
        if (!filled) yield* head;
        if (rest) yield rest;
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          yield r.value;
        }
      };
      return await this.pumpStream(writer, remaining(), opts, filled ? headBytes : 0);
    } catch (err) {
      await writer.abort();
      throw toDfsError(err);
    }
  }

  /** A local file is re-readable, so a retried chunk re-reads its range instead of holding it in memory. */
  private async putFile(localPath: string, size: number, path: string, opts: PutOptions): Promise<FileStatus> {
    const writer = await this.openWriter(path, opts, this.newFileMode(opts), MAX_PARALLEL_CHUNKS, size > 0);
    writer.setParallel(this.opts.parallelChunks ?? autoParallelChunks(writer.chunkSize));
    return this.feedFile(writer, localPath, 0, size, opts);
  }

  /** Writes [start, size) of a local file as new chunks, then completes the file. */
  private async feedFile(writer: FileWriter, localPath: string, start: number, size: number, opts: PutOptions): Promise<FileStatus> {
    try {
      const chunkSize = writer.chunkSize;
      writer.expectChunks(writer.nextChunkIndex + Math.ceil(Math.max(0, size - start) / chunkSize));
      let done = start;
      for (let offset = start; offset < size; offset += chunkSize) {
        const end = Math.min(size, offset + chunkSize);
        await writer.addChunk(() => readLocalRange(localPath, offset, end, LOCAL_IO_BYTES));
        // Progress counts chunks handed to the pipeline; close() waits for the acknowledgements.
        done = end;
        opts.onProgress?.(done);
      }
      return await writer.close();
    } catch (err) {
      await writer.abort();
      throw toDfsError(err);
    }
  }

  /** A stream is read once, so each chunk is held in memory until its replicas acknowledge it. */
  private async pumpStream(writer: FileWriter, source: NodeJS.ReadableStream | AsyncIterable<Buffer | string>, opts: PutOptions, already = 0): Promise<FileStatus> {
    const chunkSize = writer.chunkSize;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let total = already;
    const dispatch = async (): Promise<void> => {
      const buffers = pending;
      pending = [];
      pendingBytes = 0;
      await writer.addChunk(async function* () {
        yield* buffers;
      });
    };
    try {
      for await (const piece of source as AsyncIterable<Buffer | string>) {
        let buf = typeof piece === 'string' ? Buffer.from(piece) : piece;
        while (buf.length > 0) {
          const take = Math.min(buf.length, chunkSize - pendingBytes);
          pending.push(buf.subarray(0, take));
          pendingBytes += take;
          total += take;
          buf = buf.subarray(take);
          if (pendingBytes === chunkSize) await dispatch();
        }
        opts.onProgress?.(total);
      }
      if (pendingBytes > 0) await dispatch();
      return await writer.close();
    } catch (err) {
      await writer.abort();
      throw toDfsError(err);
    }
  }

  /**
   * Appending to a file kept inline: its bytes are in the metadata, so the file is written
   * again (old bytes, then the new ones) — inline again if it still fits — as a *conditional*
   * rewrite that replaces only the inode it read (compare-and-swap in the master's apply).
   * When another writer replaced the file first, the answer is STALE_VERSION and nothing
   * changed: read it again and retry, so concurrent appenders never lose an acknowledged append.
   * A tail longer than MAX_INLINE_BYTES is not held in memory: the file first becomes a chunked
   * file of the same bytes (the same compare-and-swap), then the tail goes through the writer
   * lease like any append.
   */
  private async rewriteInline(located: Located, source: string | NodeJS.ReadableStream, path: string, opts: AppendOptions): Promise<FileStatus> {
    const stream: AsyncIterable<Buffer | string> = typeof source === 'string' ? (fsCreateReadStream(source) as AsyncIterable<Buffer>) : (source as AsyncIterable<Buffer | string>);
    const head = await peekStream(stream, MAX_INLINE_BYTES);
    for (let attempt = 1; ; attempt++) {
      // A file with hard links keeps its inode across rewrites, so the inode cannot tell them
      // apart: it is converted to chunks once (old bytes only), then appended under the lease.
      const convert = !head.ended || located.file.nlink > 1;
      const tail = head.ended && !convert ? head.bytes : Buffer.alloc(0);
      try {
        const file = await this.replaceInline(located, Buffer.concat([located.inline ?? Buffer.alloc(0), tail]), path, opts, convert);
        if (!convert) return file;
        return await this.append(head.ended ? head.bytes : Readable.from(head.rest), path, opts);
      } catch (err) {
        // Nothing was written: another writer replaced the file, or is rewriting it right now.
        const lost = DfsError.is(err, ErrorCode.STALE_VERSION) || DfsError.is(err, ErrorCode.LEASE_HELD);
        if (!lost || attempt >= REWRITE_ATTEMPTS) throw err;
      }
      await delay(Math.random() * Math.min(REWRITE_MAX_BACKOFF_MS, 2 ** attempt), opts.signal);
      located = await this.locate(path, opts);
      // Someone else made it a chunked file meanwhile: an ordinary append from here.
      if (!located.inline) return this.append(head.ended ? head.bytes : Readable.from(head.rest), path, opts);
    }
  }

  /** Writes `bytes` over the inline file `located`, only if the path still holds that inode. */
  private async replaceInline(located: Located, bytes: Buffer, path: string, opts: AppendOptions, chunked: boolean): Promise<FileStatus> {
    // The rewrite keeps the file's own mode: the umask applied when it was created, not again.
    const put: PutOptions = { ...opts, overwrite: true, replication: located.file.replication };
    const mode = located.file.mode & 0o7777;
    const replaces = located.file.inode;
    if (!chunked && bytes.length <= this.inlineLimit) return this.putInline(path, bytes, put, mode, replaces);
    const writer = await this.openWriter(path, put, mode, 1, true, replaces);
    return this.pumpStream(writer, Readable.from([bytes]), put);
  }

  /** A Writable that uploads to `remote`; the file appears when the stream finishes. */
  createWriteStream(remote: string, opts: PutOptions = {}): Writable {
    const path = normalizePath(remote);
    const passthrough = new Readable({ read() {} });
    let result: Promise<FileStatus> | undefined;
    const writable = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        result ??= this.put(passthrough, path, opts);
        result.catch((err: unknown) => writable.destroy(toDfsError(err)));
        passthrough.push(chunk);
        cb();
      },
      final: (cb) => {
        result ??= this.put(passthrough, path, opts);
        passthrough.push(null);
        result.then(() => cb(), (err: unknown) => cb(toDfsError(err)));
      },
    });
    return writable;
  }

  /** Streams a file's bytes in order, verified, with bounded memory. */
  async *readChunks(remote: string, opts: ReadRangeOptions = {}): AsyncGenerator<Buffer> {
    yield* this.readLocated(await this.locate(remote, opts), opts);
  }

  private async *readLocated({ file, chunks, inline }: Located, opts: ReadRangeOptions): AsyncGenerator<Buffer> {
    const start = opts.start ?? 0;
    const end = opts.end === undefined ? file.size : Math.min(file.size, opts.end + 1);
    if (start >= end) return;
    if (inline) {
      yield inline.subarray(start, end);
      return;
    }
    yield* readFileRange(
      {
        pool: this.chunkservers,
        policy: this.readPolicy,
        requestId: opts.requestId,
        signal: fanOutSignal(opts.signal),
        timeoutMs: this.opts.readStallMs,
        refresh: this.tokenRefresher(file.path, opts),
        relocateWindowMs: this.opts.retryWindowMs,
        onCorruptReplica: (handle, replica, reason) => {
          this.masters
            .call((c) => c.reportBadReplica, { handle, chunkserverId: replica.id, reason }, { requestId: opts.requestId })
            .catch(() => undefined);
        },
      },
      file,
      chunks,
      start,
      end,
      this.opts.parallelReads ?? autoParallelReads(chunks),
    );
  }

  /**
   * Renews the chunk access tokens and replicas of a read: one GetFile serves every chunk that
   * asks within `maxAgeMs`, and each chunk takes its fresh token and replicas from it.
   */
  private tokenRefresher(path: string, opts: CallOptions): NonNullable<RangeReadContext['refresh']> {
    let fetched: Promise<Map<number, ChunkLocation>> | undefined;
    let at = 0;
    return async (chunk, { maxAgeMs = 1000 } = {}) => {
      if (!fetched || Date.now() - at > maxAgeMs) {
        at = Date.now();
        fetched = this.locate(path, opts).then((l) => new Map(l.chunks.map((c) => [c.handle, c])));
      }
      const fresh = (await fetched).get(chunk.handle);
      if (!fresh) throw new DfsError(ErrorCode.NOT_FOUND, `${path}: chunk ${chunk.handle} is no longer part of the file`);
      chunk.token = fresh.token;
      chunk.replicas = fresh.replicas;
    };
  }

  /** A Readable of the file, like fs.createReadStream (`end` inclusive). */
  createReadStream(remote: string, opts: ReadRangeOptions = {}): Readable {
    return Readable.from(this.readChunks(remote, opts), { objectMode: false });
  }

  /** Reads a whole file into memory (small files only). */
  async readFile(remote: string, opts: CallOptions = {}): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of this.readChunks(remote, opts)) parts.push(part);
    return Buffer.concat(parts);
  }

  /**
   * Copies `remote` to a local path or a writable stream. A local file is written
   * under a temporary name and renamed, so a failed get never leaves a partial file.
   */
  async get(remote: string, target: string | NodeJS.WritableStream, opts: CallOptions & { onProgress?: (bytes: number) => void } = {}): Promise<FileStatus> {
    const located = await this.locate(remote, opts);
    const { file } = located;
    let done = 0;
    const counted = async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const buf of source) {
        done += buf.length;
        opts.onProgress?.(done);
        yield buf;
      }
    };
    if (typeof target !== 'string') {
      await pipeline(counted(this.readLocated(located, opts)), target as NodeJS.WritableStream, { end: target !== process.stdout });
      return file;
    }
    const tmp = `${target}.dfs-tmp-${randomBytes(4).toString('hex')}`;
    try {
      const handle = await open(tmp, 'w');
      try {
        // A deep buffer lets the stream gather verified blocks into one writev per LOCAL_IO_BYTES.
        await pipeline(counted(this.readLocated(located, opts)), handle.createWriteStream({ highWaterMark: LOCAL_IO_BYTES }));
      } finally {
        await handle.close().catch(() => undefined);
      }
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw toDfsError(err);
    }
    return file;
  }
}

export interface Located {
  file: FileStatus;
  chunks: ChunkLocation[];
  /** Set for a file kept inline: all its bytes (it has no chunks). */
  inline?: Buffer;
}

/**
 * Reads up to `limit` + 1 bytes of `source`. `ended`: the stream ended within `limit`
 * (`bytes` is all of it); otherwise `rest` replays what was read, then the remainder.
 */
async function peekStream(source: AsyncIterable<Buffer | string>, limit: number): Promise<{ ended: true; bytes: Buffer } | { ended: false; rest: AsyncIterable<Buffer> }> {
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let bytes = 0;
  while (bytes <= limit) {
    const r = await it.next();
    if (r.done) return { ended: true, bytes: Buffer.concat(head) };
    const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    head.push(buf);
    bytes += buf.length;
  }
  const rest = async function* (): AsyncGenerator<Buffer> {
    yield* head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    }
  };
  return { ended: false, rest: rest() };
}
