import {
  DfsError,
  ErrorCode,
  type CommittedChunk,
  type FileStatus,
  type ChunkLocation,
} from '@dfs/proto';
import type { ServiceError } from '@grpc/grpc-js';
import type { MasterPool } from './master-pool.js';
import type { ChunkserverPool } from './chunkserver-pool.js';
import { writeChunk } from './chunk-write.js';

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
}

/** Metadata key a chunkserver sets to name the node that broke a write pipeline. */
const FAILED_CHUNKSERVER_KEY = 'dfs-failed-chunkserver';

/** Ids to exclude after a pipeline failure (HDFS excludes the bad datanode and retries). */
function failedReplicaIds(err: DfsError, location: ChunkLocation): string[] {
  const cause = err.cause as Partial<ServiceError> | undefined;
  const named = cause?.metadata?.get?.(FAILED_CHUNKSERVER_KEY)?.[0];
  if (named !== undefined && String(named) !== '') return [String(named)];
  const mentioned = location.replicas.filter((r) => err.message.split(/[^\w.-]+/).includes(r.id) || err.message.includes(r.address));
  if (mentioned.length > 0) return mentioned.map((r) => r.id);
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
    create: { overwrite: boolean; replication: number; mode: number; chunkSize: number },
    opts: FileWriterOptions,
  ): Promise<FileWriter> {
    const res = await masters.call(
      (c) => c.createFile,
      { path, overwrite: create.overwrite, replication: create.replication, mode: create.mode, clientId: opts.clientId, chunkSize: create.chunkSize },
      { signal: opts.signal, requestId: opts.requestId },
    );
    if (!res.file) throw new DfsError(ErrorCode.INTERNAL, `CreateFile ${path}: empty response`);
    return new FileWriter(masters, chunkservers, res.file, opts);
  }

  get chunkSize(): number {
    return this.file.chunkSize;
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
      const res = await this.masters.call(
        (c) => c.completeFile,
        { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, chunks: this.committed },
        { signal: this.opts.signal, requestId: this.opts.requestId },
      );
      return res.file ?? this.file;
    } finally {
      this.stopLease();
    }
  }

  /** Gives up: waits for in-flight chunks to stop; the master recovers or collects the file. */
  async abort(): Promise<void> {
    this.failure ??= new DfsError(ErrorCode.CANCELLED, 'write aborted');
    await Promise.allSettled(this.inflight);
    this.stopLease();
  }

  private stopLease(): void {
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  /** AddChunk calls go out in index order, one at a time; the data transfers overlap. */
  private allocate(index: number, exclude: string[]): Promise<ChunkLocation> {
    const next = this.addChunkQueue.then(async () => {
      const res = await this.masters.call(
        (c) => c.addChunk,
        { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, index, excludeChunkservers: exclude },
        { signal: this.opts.signal, requestId: this.opts.requestId },
      );
      if (!res.chunk) throw new DfsError(ErrorCode.INTERNAL, `AddChunk ${this.file.path}#${index}: empty response`);
      return res.chunk;
    });
    this.addChunkQueue = next.catch(() => undefined);
    return next;
  }

  private async writeChunkWithRetry(index: number, payload: ChunkPayload): Promise<void> {
    const exclude: string[] = [];
    let lastError: DfsError | undefined;
    for (let attempt = 0; attempt < this.opts.maxAttempts; attempt++) {
      if (this.failure) throw this.failure;
      const location = await this.allocate(index, exclude);
      try {
        const result = await writeChunk(this.chunkservers, location, this.file.chunkSize, payload(), {
          requestId: this.opts.requestId,
          signal: this.opts.signal,
        });
        this.committed[index] = { handle: location.handle, length: result.length, crc32c: result.crc32c, replicas: result.replicas };
        return;
      } catch (e) {
        const err = e instanceof DfsError ? e : new DfsError(ErrorCode.INTERNAL, String(e));
        if (err.code === ErrorCode.CANCELLED || this.opts.signal?.aborted) throw err;
        lastError = err;
        exclude.push(...failedReplicaIds(err, location));
        await this.masters
          .call((c) => c.abandonChunk, { path: this.file.path, inode: this.file.inode, clientId: this.opts.clientId, handle: location.handle })
          .catch(() => undefined);
      }
    }
    throw new DfsError(
      lastError?.code ?? ErrorCode.UNAVAILABLE,
      `writing chunk ${index} of ${this.file.path} failed after ${this.opts.maxAttempts} attempts: ${lastError?.message ?? 'unknown error'}`,
      { cause: lastError },
    );
  }
}
