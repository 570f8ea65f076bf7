import { randomUUID } from 'node:crypto';
import {
  DfsError,
  ErrorCode,
  type CommittedChunk,
  type FileStatus,
  type ChunkLocation,
  FAILED_CHUNKSERVER_KEY,
} from '@dfs/proto';
import type { ServiceError } from '@grpc/grpc-js';
import type { MasterPool } from './master-pool.js';
import type { ChunkserverPool } from './rpc.js';
import { writeChunk } from './chunk-write.js';
import { tokenExpiry } from './chunk-read.js';
import { delay } from './rpc.js';

/** Where a chunk's bytes come from: replayable, so a failed pipeline can be retried. */
export type ChunkPayload = () => AsyncIterable<Buffer>;

export interface FileWriterOptions {
  clientId: string;
  requestId?: string;
  signal?: AbortSignal;
  /** Chunks written at once. */
  parallelChunks: number;
  /** Pipeline attempts per chunk before the put fails. */
  maxAttempts: number;
  leaseRenewMs: number;
  /**
   * Fewest replicas that must acknowledge a chunk durably; default: the file's replication
   * factor (every configured replica). Lowering it lets a write succeed on a smaller cluster.
   */
  minReplicas?: number;
}

/** The file's last chunk as AppendFile returned it, with the version granted for the append. */
interface AppendTarget {
  index: number;
  location: ChunkLocation;
  version: number;
  leaseExpiryMs: number;
}

/** The chunkserver a pipeline failure names in its trailer, if any. */
/** A write token with less than this left is renewed before the chunk is written. */
const WRITE_TOKEN_MARGIN_MS = 5_000;

function tokenExpiresSoon(loc: ChunkLocation): boolean {
  const expiry = tokenExpiry(loc);
  return expiry !== undefined && expiry - WRITE_TOKEN_MARGIN_MS <= Date.now();
}

function namedFailure(err: DfsError): string | undefined {
  const cause = err.cause as Partial<ServiceError> | undefined;
  const named = cause?.metadata?.get?.(FAILED_CHUNKSERVER_KEY)?.[0];
  return named !== undefined && String(named) !== '' ? String(named) : undefined;
}

/** Ids to exclude after a pipeline failure (HDFS excludes the bad datanode and retries). */
function failedReplicaIds(err: DfsError, location: ChunkLocation): string[] {
  const named = namedFailure(err);
  if (named) return [named];
  // No trailer: the primary itself could not be reached.
  const primary = location.replicas[0];
  return primary && (err.code === ErrorCode.UNAVAILABLE || err.code === ErrorCode.DEADLINE_EXCEEDED) ? [primary.id] : [];
}

/**
 * Writes one file: CreateFile, then each chunk through AddChunk + a replication
 * pipeline (several chunks in flight), then CompleteFile, which makes it visible
 * atomically. A failed pipeline abandons that chunk and retries on a new replica
 * set that excludes the failed node.
 */
export class FileWriter {
  private readonly committed: CommittedChunk[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private nextIndex = 0;
  private addChunkQueue: Promise<unknown> = Promise.resolve();
  private failure: DfsError | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  /** Chunkservers that failed a pipeline of this file: no later chunk is placed on them. */
  private readonly excluded = new Set<string>();
  /** Append mode: the chunks the file had when it was opened (restored if the append fails). */
  private original: CommittedChunk[] | undefined;
  private appendTarget: AppendTarget | undefined;
  /** Chunk 0 allocated by CreateFile (the single-chunk fast path), not yet used. */
  private firstChunk: ChunkLocation | undefined;
  /** Chunks allocated ahead by a batched AddChunk, by index. */
  private readonly prefetched = new Map<number, ChunkLocation>();
  private expectedChunks: number | undefined;

  private constructor(
    private readonly masters: MasterPool,
    private readonly chunkservers: ChunkserverPool,
    readonly file: FileStatus,
    private readonly opts: FileWriterOptions,
  ) {
    this.leaseTimer = setInterval(() => {
      masters
        .call((c) => c.renewLease, { clientId: opts.clientId }, { requestId: opts.requestId })
        .catch(() => undefined);
    }, opts.leaseRenewMs);
    this.leaseTimer.unref();
  }

  static async create(
    masters: MasterPool,
    chunkservers: ChunkserverPool,
    path: string,
    create: { overwrite: boolean; replication: number; mode: number; chunkSize: number; allocateFirstChunk?: boolean; replaces?: number | undefined },
    opts: FileWriterOptions,
  ): Promise<FileWriter> {
    const res = await masters.call(
      (c) => c.createFile,
      {
        path,
        overwrite: create.overwrite,
        replication: create.replication,
        mode: create.mode,
        clientId: opts.clientId,
        chunkSize: create.chunkSize,
        opId: randomUUID(),
        allocateFirstChunk: create.allocateFirstChunk ?? false,
        // A conditional rewrite: attaches only over this inode (else STALE_VERSION).
        ...(create.replaces ? { replacesInode: create.replaces } : {}),
      },
      { signal: opts.signal, requestId: opts.requestId },
    );
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, `CreateFile ${path}: empty response`);
    const w = new FileWriter(masters, chunkservers, res.file, opts);
    w.firstChunk = res.firstChunk;
    return w;
  }

  /**
   * Opens an existing file for appending (one writer per file: another client's live lease
   * gives LEASE_HELD). The file keeps its committed bytes visible; `close` publishes the
   * appended bytes atomically, `abort` restores the file as it was.
   */
  static async openAppend(
    masters: MasterPool,
    chunkservers: ChunkserverPool,
    path: string,
    opts: FileWriterOptions,
  ): Promise<FileWriter> {
    const res = await masters.call(
      (c) => c.appendFile,
      { path, clientId: opts.clientId },
      { signal: opts.signal, requestId: opts.requestId },
    );
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, `AppendFile ${path}: empty response`);
    const w = new FileWriter(masters, chunkservers, res.file, opts);
    w.original = res.chunks.map((c) => ({ handle: c.handle, length: c.length, crc32c: c.crc32c, replicas: [], version: 0 }));
    w.committed.push(...w.original.map((c) => ({ ...c })));
    w.nextIndex = res.chunks.length;
    const last = res.chunks[res.chunks.length - 1];
    if (last) w.appendTarget = { index: res.chunks.length - 1, location: last, version: res.version, leaseExpiryMs: res.leaseExpiryMs };
    return w;
  }

  get chunkSize(): number {
    return this.file.chunkSize;
  }

  /** Index the next addChunk gets. */
  get nextChunkIndex(): number {
    return this.nextIndex;
  }

  /** Chunks written at once. */
  setParallel(n: number): void {
    this.opts.parallelChunks = Math.max(1, n);
  }

  /**
   * A stream source is held in memory one chunk per attempt in flight (plus the chunk being
   * filled), so big chunks get fewer in flight: at most `bytes` held in all.
   */
  limitHeldBytes(bytes: number): void {
    const fit = Math.max(1, Math.floor(bytes / Math.max(1, this.chunkSize)) - 1);
    this.opts.parallelChunks = Math.min(this.opts.parallelChunks, fit);
  }

  private get minReplicas(): number {
    const want = this.file.replication || 1;
    return Math.max(1, Math.min(want, this.opts.minReplicas ?? want));
  }

  /** Bytes that still fit in the last chunk (append mode), if enough of its replicas are up. */
  get appendRoom(): number {
    const t = this.appendTarget;
    if (!t || t.location.replicas.length < this.minReplicas) return 0;
    return Math.max(0, this.chunkSize - t.location.length);
  }

  /**
   * Appends `payload` (at most `appendRoom` bytes) to the last chunk through its primary, which
   * orders the mutation and forwards it to the other replicas (GFS §3.1). Returns false when the
   * chunk cannot take it (a replica failed or diverged): the caller then writes the bytes into
   * new chunks instead, and the last chunk keeps its committed length, so nothing is torn or
   * duplicated for a reader. Must be called before any addChunk.
   */
  async fillLastChunk(payload: ChunkPayload): Promise<boolean> {
    const t = this.appendTarget;
    this.appendTarget = undefined;
    if (!t || this.inflight.size > 0 || this.nextIndex !== t.index + 1) return false;
    const loc = { ...t.location, version: t.version };
    try {
      const result = await writeChunk(this.chunkservers, loc, this.chunkSize, payload(), {
        offset: t.location.length,
        initialCrc: t.location.crc32c,
        leaseExpiryMs: t.leaseExpiryMs,
        requestId: this.opts.requestId,
        signal: this.opts.signal,
      });
      this.checkReplicaCount(loc, result.replicas);
      this.committed[t.index] = { handle: loc.handle, length: result.length, crc32c: result.crc32c, replicas: result.replicas, version: t.version };
      return true;
    } catch (e) {
      const err = e instanceof DfsError ? e : new DfsError(ErrorCode.INTERNAL, String(e));
      if (err.code === ErrorCode.CANCELLED || this.opts.signal?.aborted) throw err;
      for (const id of failedReplicaIds(err, loc)) this.excluded.add(id);
      return false;
    }
  }

  private checkReplicaCount(location: ChunkLocation, replicas: string[]): void {
    if (replicas.length < this.minReplicas) {
      throw new DfsError(
        ErrorCode.NOT_ENOUGH_CHUNKSERVERS,
        `chunk ${location.handle}: only ${replicas.length} replicas acknowledged (${replicas.join(', ')}), need ${this.minReplicas}`,
      );
    }
  }

  /** Queues the next chunk; waits while too many chunks are in flight. */
  async addChunk(payload: ChunkPayload): Promise<void> {
    this.throwIfFailed();
    while (this.inflight.size >= this.opts.parallelChunks) {
      await Promise.race(this.inflight);
      this.throwIfFailed();
    }
    const index = this.nextIndex++;
    const task = this.writeChunkWithRetry(index, payload).then(
      () => undefined,
      (err: unknown) => {
        this.failure ??= err instanceof DfsError ? err : new DfsError(ErrorCode.INTERNAL, String(err));
      },
    );
    this.inflight.add(task);
    void task.finally(() => this.inflight.delete(task));
  }

  /** Waits for every chunk, then makes the file visible. */
  async close(): Promise<FileStatus> {
    try {
      await Promise.all(this.inflight);
      this.throwIfFailed();
      if (this.firstChunk) {
        // An empty source: the chunk CreateFile allocated was never written.
        const handle = this.firstChunk.handle;
        this.firstChunk = undefined;
        await this.masters.call(
          (c) => c.abandonChunk,
          { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, handle },
          { signal: this.opts.signal, requestId: this.opts.requestId },
        );
      }
      const res = await this.masters.call(
        (c) => c.completeFile,
        { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, chunks: this.committed, opId: randomUUID() },
        { signal: this.opts.signal, requestId: this.opts.requestId },
      );
      return res.file ?? this.file;
    } finally {
      this.stopLease();
    }
  }

  /**
   * Gives up: waits for in-flight chunks to stop. A new file is left to the master (lease
   * recovery or garbage collection); an append drops its new chunks and republishes the file
   * exactly as it was, so a failed append leaves nothing behind.
   */
  async abort(): Promise<void> {
    this.failure ??= new DfsError(ErrorCode.CANCELLED, 'write aborted');
    await Promise.allSettled(this.inflight);
    try {
      if (this.original) await this.restoreOriginal();
      else await this.abandonFile();
    } catch {
      // best effort: the writer lease expires and lease recovery closes the file
    } finally {
      this.stopLease();
    }
  }

  /** A new file that failed: drop it whole, so lease recovery never publishes a partial file. */
  private async abandonFile(): Promise<void> {
    await this.masters.call(
      (c) => c.abandonChunk,
      { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, handle: 0, wholeFile: true },
      { requestId: this.opts.requestId },
    );
  }

  private async restoreOriginal(): Promise<void> {
    const original = this.original!;
    const { chunks } = await this.masters.call((c) => c.getFile, { path: this.file.path, staleOk: false }, { requestId: this.opts.requestId });
    // AbandonChunk drops the last uncommitted chunk: walk back from the end.
    for (let i = chunks.length - 1; i >= original.length; i--) {
      await this.masters.call(
        (c) => c.abandonChunk,
        { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, handle: chunks[i]!.handle },
        { requestId: this.opts.requestId },
      );
    }
    await this.masters.call(
      (c) => c.completeFile,
      { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, chunks: original, opId: randomUUID() },
      { requestId: this.opts.requestId },
    );
  }

  private stopLease(): void {
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** The writer knows how many chunks the file will have (a local file): AddChunk may batch. */
  expectChunks(total: number): void {
    this.expectedChunks = total;
  }

  /**
   * AddChunk calls go out in index order, one at a time; the data transfers overlap. When the
   * number of chunks is known, one AddChunk allocates up to `parallelChunks` of them in one log
   * entry (each with its own replica set), so small chunks do not pay a Raft commit each.
   */
  private allocate(index: number, exclude: string[], retry: boolean): Promise<ChunkLocation> {
    // A location allocated ahead whose write token is about to expire is replaced by a fresh
    // AddChunk (as a retry replaces a failed attempt): that is how a slow writer renews it.
    const usable = (loc: ChunkLocation): boolean => !loc.replicas.some((r) => exclude.includes(r.id)) && !tokenExpiresSoon(loc);
    const first = this.firstChunk;
    if (index === 0 && first) {
      this.firstChunk = undefined;
      if (usable(first)) return Promise.resolve(first);
    }
    const next = this.addChunkQueue.then(async () => {
      const ready = this.prefetched.get(index);
      this.prefetched.delete(index);
      if (ready && !retry && usable(ready)) return ready;
      const count = !retry && this.expectedChunks !== undefined ? Math.max(1, Math.min(this.opts.parallelChunks, this.expectedChunks - index, 64)) : 1;
      const res = await this.masters.call(
        (c) => c.addChunk,
        { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, index, excludeChunkservers: exclude, count },
        { signal: this.opts.signal, requestId: this.opts.requestId },
      );
      if (!res.chunk) throw new DfsError(ErrorCode.INTERNAL, `AddChunk ${this.file.path}#${index}: empty response`);
      res.more.forEach((loc, k) => this.prefetched.set(index + 1 + k, loc));
      return res.chunk;
    });
    this.addChunkQueue = next.catch(() => undefined);
    return next;
  }

  private async writeChunkWithRetry(index: number, payload: ChunkPayload): Promise<void> {
    let lastError: DfsError | undefined;
    // This chunk's own exclusions (including guesses); the file-wide set holds only nodes a
    // pipeline explicitly named, so that concurrent chunks' guesses cannot exclude everyone.
    const exclude = new Set<string>();
    for (let attempt = 0; attempt < this.opts.maxAttempts; attempt++) {
      if (this.failure) throw this.failure;
      let location: ChunkLocation;
      try {
        location = await this.allocate(index, [...new Set([...this.excluded, ...exclude])], attempt > 0);
      } catch (e) {
        const err = e instanceof DfsError ? e : new DfsError(ErrorCode.INTERNAL, String(e));
        if (err.code !== ErrorCode.NOT_ENOUGH_CHUNKSERVERS) throw err;
        lastError = err;
        if (this.excluded.size === 0 && exclude.size === 0) {
          // A new master leader knows no chunkserver until their next heartbeat: wait a little.
          await delay(500 * (attempt + 1), this.opts.signal);
          continue;
        }
        // Excluded too many: forget the exclusions (the master skips dead nodes anyway) and retry.
        this.excluded.clear();
        exclude.clear();
        continue;
      }
      try {
        const result = await writeChunk(this.chunkservers, location, this.file.chunkSize, payload(), {
          requestId: this.opts.requestId,
          signal: this.opts.signal,
        });
        this.checkReplicaCount(location, result.replicas);
        this.committed[index] = { handle: location.handle, length: result.length, crc32c: result.crc32c, replicas: result.replicas, version: 0 };
        return;
      } catch (e) {
        const err = e instanceof DfsError ? e : new DfsError(ErrorCode.INTERNAL, String(e));
        if (err.code === ErrorCode.CANCELLED || this.opts.signal?.aborted) throw err;
        lastError = err;
        for (const id of failedReplicaIds(err, location)) exclude.add(id);
        const named = namedFailure(err);
        if (named) this.excluded.add(named);
        if (process.env.DFS_CLIENT_DEBUG) process.stderr.write(`dfs-client: chunk ${index} attempt ${attempt} on ${location.replicas.map((r) => r.id).join('>')}: ${err.message} (excluding ${[...exclude].join(',')})\n`);
        // No AbandonChunk: the retry's AddChunk at the same index replaces the failed attempt
        // (its partial replicas become garbage). Abandoning would drop trailing chunks that
        // other in-flight attempts still own and break the index order.
      }
    }
    throw new DfsError(
      lastError?.code ?? ErrorCode.UNAVAILABLE,
      `writing chunk ${index} of ${this.file.path} failed after ${this.opts.maxAttempts} attempts: ${lastError?.message ?? 'unknown error'}`,
      { cause: lastError },
    );
  }
}
