import { type ClientWritableStream, type ServerReadableStream, type sendUnaryData, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '@dfs/telemetry';
import {
  DEFAULT_CHUNK_SIZE,
  DfsError,
  MAX_CHAIN_LENGTH,
  MAX_CHUNK_SIZE,
  checkAddress,
  checkBounds,
  checkNodeId,
  ErrorCode,
  type ChunkServiceClient,
  type ChunkserverRef,
  type WriteChunkResponse,
  type WriteHeader,
  chunkMetadata,
  type ChannelPool,
  WRITE_CHUNK_PATH,
  decodeWriteResponse,
  encodeWriteRequest,
  type RawWriteRequest,
  framePieces,
} from '@dfs/proto';
import { checkHandle } from './chunk-id.js';
import type { ChunkRecord, ChunkStore, ChunkWriter } from './chunk-store.js';
import { MessageQueue } from './message-queue.js';
import { PipelineError, blameDownstream, blameSelf } from './pipeline-error.js';
import { checkWriteVersion, type TokenGate } from './token-gate.js';

/*
 * The write pipeline (GFS §3.2 data flow, HDFS DataXceiver): each replica verifies a frame,
 * queues it for its local disk and forwards the very same bytes to the next replica before
 * reading the next frame. Memory stays bounded: the incoming stream is paused after a few
 * frames, the local writer has a small window of positional writes, and the downstream call
 * is only written to while its buffer drains. The acknowledgement flows back up the chain:
 * a replica answers only when its own bytes are fdatasync'ed, the next replica answered, and
 * the new state is committed.
 *
 *   client ──frames──▶ primary ──frames──▶ backup1 ──frames──▶ backup2
 *          ◀──ack──────         ◀──ack────          ◀──ack────
 */

export interface WriteContext {
  selfId: string;
  store: ChunkStore;
  peers: ChannelPool<ChunkServiceClient>;
  log: Logger;
  /** A downstream that accepts nothing (or does not ack) for this long fails the write. */
  pipelineTimeoutMs: number;
  /** Chunk access tokens: a write needs a write token for this chunk, version and node. */
  tokens: TokenGate;
  /** A writer that sends nothing for this long is cut off and its partial replica discarded. */
  idleTimeoutMs: number;
}

export interface ValidHeader {
  handle: number;
  version: number;
  chunkSize: number;
  offset: number;
  chain: ChunkserverRef[];
  requestId: string;
}

export function validateHeader(h: WriteHeader, selfId: string): ValidHeader {
  checkBounds(h, 'write header');
  const handle = checkHandle(h.handle);
  const version = h.version;
  if (!Number.isSafeInteger(version) || version < 0) throw invalid(`invalid chunk version ${String(version)}`);
  const chunkSize = h.chunkSize === 0 ? DEFAULT_CHUNK_SIZE : h.chunkSize;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 0 || chunkSize > MAX_CHUNK_SIZE) {
    throw invalid(`invalid chunk_size ${String(h.chunkSize)} (max ${MAX_CHUNK_SIZE})`);
  }
  if (!Number.isSafeInteger(h.offset) || h.offset < 0) throw invalid(`invalid offset ${String(h.offset)}`);
  const chain = h.chain ?? [];
  if (chain.length > MAX_CHAIN_LENGTH) throw invalid(`write chain of ${chain.length} replicas is too long (max ${MAX_CHAIN_LENGTH})`);
  for (const ref of chain) {
    checkNodeId(ref?.id, 'write chain entry id');
    checkAddress(ref.address, `write chain entry ${ref.id} address`);
    if (ref.id === selfId) throw invalid(`write chain names this chunkserver (${selfId}) downstream of itself`);
  }
  const ids = new Set(chain.map((r) => r.id));
  if (ids.size !== chain.length) throw invalid('write chain names a chunkserver twice');
  return { handle, version, chunkSize, offset: h.offset, chain, requestId: String(h.requestId ?? '') };
}

function invalid(message: string): DfsError {
  return new DfsError(ErrorCode.INVALID_ARGUMENT, message);
}

/** The downstream half of the pipeline: one client-streaming WriteChunk call to chain[0]. */
export class Forwarder {
  private readonly call: ClientWritableStream<Buffer>;
  private readonly result: Promise<WriteChunkResponse>;
  private failure?: PipelineError;
  private failureListeners: Array<(err: PipelineError) => void> = [];
  private settled = false;
  /** Replicas from the target to the end of the chain: each may take up to timeoutMs to ack. */
  private readonly depth: number;

  constructor(
    client: ChunkServiceClient,
    readonly target: ChunkserverRef,
    header: ValidHeader,
    private readonly timeoutMs: number,
    token: string,
  ) {
    this.depth = Math.max(1, header.chain.length);
    let resolve!: (r: WriteChunkResponse) => void;
    let reject!: (e: PipelineError) => void;
    this.result = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.result.catch(() => undefined);
    this.call = client.makeClientStreamRequest<Buffer, WriteChunkResponse>(
      WRITE_CHUNK_PATH,
      (b: Buffer) => b,
      decodeWriteResponse,
      chunkMetadata(header.requestId, token),
      {},
      (err: ServiceError | null, resp?: WriteChunkResponse) => {
        this.settled = true;
        if (err || !resp) {
          const failure = blameDownstream(err ?? new Error('empty response'), target);
          this.fail(failure);
          reject(failure);
        } else {
          resolve(resp);
        }
      },
    );
    this.call.on('error', () => undefined); // reported through the callback
    this.call.write(
      encodeWriteRequest({
        msg: {
          $case: 'header',
          value: {
            handle: header.handle,
            version: header.version,
            chain: header.chain.slice(1),
            leaseExpiryMs: 0, // only the primary checks its lease
            requestId: header.requestId,
            chunkSize: header.chunkSize,
            offset: header.offset,
          },
        },
      }),
    );
  }

  /** Registers a callback for an asynchronous downstream failure. */
  onFailure(listener: (err: PipelineError) => void): void {
    if (this.failure) listener(this.failure);
    else this.failureListeners.push(listener);
  }

  /** Forwards one serialized frame; waits while the downstream buffer is full. */
  async send(raw: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.call.write(raw)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        const err = this.timedOut('stopped accepting data');
        this.fail(err);
        reject(err);
      }, this.timeoutMs);
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onFail = (err: PipelineError): void => {
        cleanup();
        reject(err);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.call.off('drain', onDrain);
        this.failureListeners = this.failureListeners.filter((l) => l !== onFail);
      };
      this.call.once('drain', onDrain);
      this.failureListeners.push(onFail);
    });
  }

  /** Half-closes the stream and waits for the downstream acknowledgement. */
  async finish(): Promise<WriteChunkResponse> {
    if (this.failure) throw this.failure;
    this.call.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = this.timedOut('did not acknowledge');
        this.fail(err);
        reject(err);
      }, this.timeoutMs * this.depth);
    });
    try {
      return await Promise.race([this.result, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  cancel(): void {
    if (!this.settled) this.call.cancel();
  }

  private timedOut(what: string): PipelineError {
    return new PipelineError(
      ErrorCode.UNAVAILABLE,
      `chunkserver ${this.target.id} (${this.target.address}) failed: ${what} within ${this.timeoutMs}ms`,
      this.target.id,
    );
  }

  private fail(err: PipelineError): void {
    if (this.failure) return;
    this.failure = err;
    this.cancel();
    const listeners = this.failureListeners;
    this.failureListeners = [];
    for (const l of listeners) l(err);
  }
}

/** gRPC handler body of WriteChunk. Never throws: every failure goes to `callback`. */
export async function handleWriteChunk(
  ctx: WriteContext,
  call: ServerReadableStream<RawWriteRequest, WriteChunkResponse>,
  callback: sendUnaryData<WriteChunkResponse>,
): Promise<void> {
  // Up to 4 messages (≤ 4 MiB with multi-piece frames) wait; then HTTP/2 flow control pushes back.
  const queue = new MessageQueue<RawWriteRequest>(call, 4);
  let writer: ChunkWriter | undefined;
  let forwarder: Forwarder | undefined;
  let header: ValidHeader | undefined;
  let localCommit: Promise<ChunkRecord> | undefined;
  const started = Date.now();
  // Only time spent waiting for the writer counts: a slow disk or downstream is not its idleness.
  const idle = (): DfsError =>
    new DfsError(ErrorCode.DEADLINE_EXCEEDED, `chunk ${header?.handle ?? '?'}: the writer sent nothing for ${ctx.idleTimeoutMs} ms; write cancelled, partial replica discarded`);
  try {
    const first = await queue.nextWithin(ctx.idleTimeoutMs, idle);
    if (!first) throw invalid('WriteChunk stream ended before its header');
    if (first.msg.msg?.$case !== 'header') throw invalid('WriteChunk stream must start with a header');
    header = validateHeader(first.msg.msg.value, ctx.selfId);
    const { handle } = header;
    // No token, no bytes: a write token for this chunk, this version and this node.
    const claims = await ctx.tokens.check(call.metadata, handle, ['write']);
    checkWriteVersion(claims, header.version, ctx.store.get(handle));
    // A chunkserver dials only chunkservers the token names (the pipeline the master chose).
    for (const ref of header.chain) {
      if (!claims.nodes.includes(ref.id)) throw new DfsError(ErrorCode.PERMISSION_DENIED, `chunk ${handle}: the write chain names ${ref.id}, which the token does not`);
    }
    // The primary orders mutations only while its chunk lease lasts (GFS §3.1): the lease the
    // master bound into the token, or the one the writer names, whichever ends first.
    const named = Number(first.msg.msg.value.leaseExpiryMs ?? 0);
    const leaseExpiry = [claims.leaseExpiryMs, named].filter((t) => t > 0).reduce((a, b) => Math.min(a, b), Infinity);
    if (leaseExpiry !== Infinity && Date.now() > leaseExpiry) {
      throw new DfsError(ErrorCode.LEASE_EXPIRED, `chunk ${handle}: the primary's lease expired at ${new Date(leaseExpiry).toISOString()}`);
    }
    // A brand-new replica (nothing stored under this handle) may commit before the downstream
    // acknowledges (see below), since undoing it is just deleting it.
    const fresh = header.offset === 0 && !ctx.store.get(handle);
    writer = await ctx.store.beginWrite(header);
    const fi = ctx.store.faultInjector;
    const next = header.chain[0];
    if (next) {
      forwarder = new Forwarder(ctx.peers.get(next.address), next, header, ctx.pipelineTimeoutMs, claims.token);
      forwarder.onFailure((err) => queue.fail(err));
    }
    for (;;) {
      const m = await queue.nextWithin(ctx.idleTimeoutMs, idle);
      if (!m) break;
      const body = m.msg.msg;
      if (body?.$case !== 'frame') throw invalid(body?.$case === 'header' ? 'WriteChunk stream has a second header' : 'WriteChunk message without a frame');
      const frame = body.value;
      if (frame.data.length === 0) continue;
      const offset = writer.offset;
      let pieces: ReturnType<typeof framePieces>;
      try {
        pieces = framePieces(frame.data, frame.crc32c, frame.pieceCrc32cs);
      } catch (err) {
        throw invalid(`chunk ${handle}: ${(err as Error).message}`);
      }
      for (const piece of pieces) await writer.writeFrame(piece.data, piece.crc);
      if (forwarder) {
        if (fi.beforeForward) await fi.beforeForward(handle, offset, forwarder.target.id);
        await forwarder.send(m.raw);
      }
    }
    // A new chunk commits locally without waiting for the downstream acknowledgement, so the
    // chain's commits (fdatasync, meta, directory fsync) overlap instead of running one after
    // another on the way back; the answer still waits for both, and if the downstream fails the
    // new replica is deleted again. An append (or a rewrite) commits only after the downstream
    // acknowledged, since its previous state cannot be restored by a delete.
    const w = writer;
    let record: ChunkRecord;
    let downstream: WriteChunkResponse | undefined;
    if (fresh) {
      localCommit = (async () => {
        if (fi.beforeCommit) await fi.beforeCommit(handle);
        return w.syncAndCommit();
      })();
      [record, downstream] = await Promise.all([localCommit, forwarder?.finish()]);
    } else {
      [, downstream] = await Promise.all([w.sync(), forwarder?.finish()]);
      if (fi.beforeCommit) await fi.beforeCommit(handle);
      record = await w.commit();
    }
    // A write that carries a request id is logged at info, so one put can be traced across every hop.
    const logWritten = header.requestId ? ctx.log.info.bind(ctx.log) : ctx.log.debug.bind(ctx.log);
    logWritten(
      { handle, version: record.version, offset: header.offset, length: record.length, ms: Date.now() - started, chain: header.chain.map((r) => r.id), ...(header.requestId ? { requestId: header.requestId } : {}) },
      'chunk written',
    );
    callback(null, { length: record.length, crc32c: record.crc32c, replicas: [ctx.selfId, ...(downstream?.replicas ?? [])] });
  } catch (err) {
    forwarder?.cancel();
    // Never abort a writer while it commits; undo a new replica that committed meanwhile.
    const committed = await localCommit?.catch(() => undefined);
    if (committed && header) await ctx.store.delete(header.handle).catch(() => undefined);
    await writer?.abort().catch(() => undefined);
    const failure = blameSelf(err, ctx.selfId);
    if (failure.code !== ErrorCode.CANCELLED) {
      ctx.log.warn({ handle: header?.handle, code: failure.codeName, err: failure.message }, 'chunk write failed');
    }
    callback(failure.toServiceError() as ServiceError);
  }
}

