import { Metadata, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '@dfs/telemetry';
import {
  DfsError,
  ErrorCode,
  MAX_CHUNK_SIZE,
  checkAddress,
  isNodeId,
  toDfsError,
  type ChunkInfoResponse,
  type ChunkServiceClient,
  type ChunkserverRef,
  type CopyChunkResponse,
  type ReadChunkResponse,
  type ChannelPool,
  chunkMetadata,
  framePieces,
} from '@dfs/proto';
import { checkHandle } from './chunk-id.js';
import type { ChunkRecord, ChunkStore, ChunkWriter } from './chunk-store.js';
import { MessageQueue } from './message-queue.js';
import { Semaphore, type Throttle } from './throttle.js';

/*
 * Re-replication (GFS §4.3, HDFS block transfer): pull a whole replica from another
 * chunkserver with ReadChunk, verify every block against its CRC and the whole chunk against
 * the source's ChunkInfo, and store it like any new chunk (temp file, fdatasync, rename).
 * Copies are throttled (shared byte rate) and bounded in number, and a handle is copied at
 * most once at a time.
 */

export interface CopyRequest {
  handle: number;
  version: number;
  source?: ChunkserverRef;
  /** The copy token (from the master's command or the CopyChunk call), shown to the source. */
  token: string;
}

export interface ReplicatorOptions {
  selfId: string;
  store: ChunkStore;
  peers: ChannelPool<ChunkServiceClient>;
  log: Logger;
  maxConcurrent: number;
  throttle: Throttle;
  /** Deadline of ChunkInfo; a source sending nothing for this long fails the copy. */
  timeoutMs: number;
  signal: AbortSignal;
  /** A master-commanded copy finished: reported in the next (early) heartbeat. */
  onFinished?: (handle: number, ok: boolean) => void;
  /**
   * A copy found the replica here already, at the version asked or newer. The master asked
   * because it does not know that (a report of ours it lost or discarded): it hears it again,
   * and only a report finishes the copy it tracks.
   */
  onAlreadyHeld?: (record: ChunkRecord) => void;
}

/** Master commands waiting beyond this are dropped (the master re-issues them). */
const MAX_QUEUED = 1000;

export class Replicator {
  private readonly slots: Semaphore;
  private readonly running = new Map<number, Promise<CopyChunkResponse>>();
  private queued = 0;

  constructor(private readonly opts: ReplicatorOptions) {
    this.slots = new Semaphore(opts.maxConcurrent);
  }

  /** Copies started or waiting for a slot. */
  get inflight(): number {
    return this.running.size;
  }

  /** A replicate command from the master: run in the background, failures only logged. */
  enqueue(req: CopyRequest): void {
    if (this.running.has(req.handle)) return;
    if (this.queued >= MAX_QUEUED) {
      this.opts.log.warn({ handle: req.handle }, 'replication queue full; dropping command');
      return;
    }
    let copying: Promise<CopyChunkResponse>;
    try {
      copying = this.copy(req);
    } catch (err) {
      this.opts.log.warn({ handle: req.handle, err: toDfsError(err).message }, 'ignoring invalid replicate command');
      return;
    }
    this.queued++;
    copying
      .then(
        (r) => {
          this.opts.log.info({ handle: req.handle, source: req.source?.id, length: r.length }, 'replica copied');
          this.opts.onFinished?.(req.handle, true);
        },
        (err: unknown) => {
          if (!this.opts.signal.aborted) {
            this.opts.onFinished?.(req.handle, false);
            this.opts.log.warn({ handle: req.handle, source: req.source?.id, err: toDfsError(err).message }, 'replica copy failed');
          }
        },
      )
      .finally(() => this.queued--);
  }

  /** Copies a replica here (CopyChunk RPC and master commands). Idempotent per handle. */
  copy(req: CopyRequest): Promise<CopyChunkResponse> {
    const handle = checkHandle(req.handle);
    const existing = this.running.get(handle);
    if (existing) return existing;
    const p = this.run({ ...req, handle }).finally(() => this.running.delete(handle));
    this.running.set(handle, p);
    return p;
  }

  private async run(req: CopyRequest & { handle: number }): Promise<CopyChunkResponse> {
    const { handle } = req;
    const source = req.source;
    if (!source || !isNodeId(source.id)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `copy of chunk ${handle}: missing or invalid source`);
    checkAddress(source.address, `copy of chunk ${handle}: source address`);
    if (source.id === this.opts.selfId) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `copy of chunk ${handle}: source is this chunkserver`);
    if (!Number.isSafeInteger(req.version) || req.version < 0) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `invalid version ${String(req.version)}`);
    const have = this.opts.store.get(handle);
    if (have && have.version >= req.version && req.version > 0) {
      this.opts.onAlreadyHeld?.(have);
      return { length: have.length, crc32c: have.crc32c };
    }

    await this.slots.acquire();
    try {
      if (this.opts.signal.aborted) throw new DfsError(ErrorCode.UNAVAILABLE, 'chunkserver is stopping');
      const fi = this.opts.store.faultInjector;
      if (fi.beforeCopy) await fi.beforeCopy(handle, source.id);
      return await this.pull(handle, req.version, source, req.token);
    } finally {
      this.slots.release();
    }
  }

  private async pull(handle: number, minVersion: number, source: ChunkserverRef, token: string): Promise<CopyChunkResponse> {
    const { store, timeoutMs, throttle, signal } = this.opts;
    const client = this.opts.peers.get(source.address);
    const md = chunkMetadata(undefined, token);
    const info = await chunkInfo(client, handle, timeoutMs, md).catch((err: unknown) => {
      const d = toDfsError(err);
      throw new DfsError(d.code, `copy of chunk ${handle} from ${source.id} (${source.address}): ${d.message}`, { cause: err });
    });
    if (info.version < minVersion) {
      throw new DfsError(ErrorCode.STALE_VERSION, `copy of chunk ${handle}: source ${source.id} has version ${info.version}, need ${minVersion}`);
    }
    if (!Number.isSafeInteger(info.length) || info.length < 0 || info.length > MAX_CHUNK_SIZE) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, `copy of chunk ${handle}: source reports invalid length ${info.length}`);
    }
    const writer: ChunkWriter = await store.beginWrite({ handle, version: info.version, offset: 0, chunkSize: info.length });
    const stream: ClientReadableStream<ReadChunkResponse> = client.readChunk({ handle, version: info.version, offset: 0, length: 0, requestId: `copy-${handle}` }, md);
    const queue = new MessageQueue<ReadChunkResponse>(stream, 4);
    const onAbort = (): void => queue.fail(new DfsError(ErrorCode.CANCELLED, 'chunkserver is stopping'));
    signal.addEventListener('abort', onAbort);
    try {
      for (;;) {
        const resp = await withTimeout(queue.next(), timeoutMs, () =>
          new DfsError(ErrorCode.UNAVAILABLE, `copy of chunk ${handle}: source ${source.id} sent nothing for ${timeoutMs}ms`),
        );
        if (!resp) break;
        if (resp.offset !== writer.offset) {
          throw new DfsError(ErrorCode.INTERNAL, `copy of chunk ${handle}: source sent offset ${resp.offset}, expected ${writer.offset}`);
        }
        const data = resp.data;
        await throttle.take(data.length, signal);
        let blocks: ReturnType<typeof framePieces>;
        try {
          blocks = framePieces(data, resp.crc32c, resp.blockCrc32cs);
        } catch (err) {
          throw new DfsError(ErrorCode.INTERNAL, `copy of chunk ${handle} from ${source.id}: ${(err as Error).message}`);
        }
        for (const b of blocks) await writer.writeFrame(b.data, b.crc);
      }
      if (writer.offset !== info.length) {
        throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `copy of chunk ${handle}: got ${writer.offset} bytes, source reported ${info.length}`);
      }
      if (writer.crc32c !== info.crc32c >>> 0) {
        throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `copy of chunk ${handle}: whole-chunk checksum ${writer.crc32c} does not match source's ${info.crc32c >>> 0}`);
      }
      await writer.sync();
      const record = await writer.commit();
      return { length: record.length, crc32c: record.crc32c };
    } catch (err) {
      stream.cancel();
      await writer.abort();
      throw toDfsError(err);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function chunkInfo(client: ChunkServiceClient, handle: number, timeoutMs: number, md: Metadata): Promise<ChunkInfoResponse> {
  return new Promise((resolve, reject) => {
    client.chunkInfo({ handle }, md, { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, resp: ChunkInfoResponse) =>
      err ? reject(err) : resolve(resp),
    );
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
