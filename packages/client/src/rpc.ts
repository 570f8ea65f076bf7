import { Metadata, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import {
  ChannelPool,
  DataChunkServiceClient,
  type ChunkServiceClient,
  AUTHORIZATION_KEY,
  DfsError,
  ErrorCode,
  REQUEST_ID_KEY,
  channelOptions,
  dataChannelOptions,
  toDfsError,
} from '@dfs/proto';
import { channelCredentials, type Security } from '@dfs/security';

/**
 * The client's channels to chunkservers: one per address, with the data path's wide receive window;
 * ReadChunk data arrives as views of the received messages (DataChunkServiceClient), not copies.
 */
export type ChunkserverPool = ChannelPool<ChunkServiceClient>;

export function chunkserverPool(security: Security): ChunkserverPool {
  return new ChannelPool((a) => new DataChunkServiceClient(a, channelCredentials(security), { ...channelOptions(), ...dataChannelOptions() }));
}

/** A ts-proto grpc-js unary method in its fullest overload. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export interface CallContext {
  /** Per-call deadline in milliseconds. */
  timeoutMs: number;
  signal?: AbortSignal;
  requestId?: string;
  /** The answer's response headers (a master's carry its applied index). */
  onHeaders?: (headers: Metadata) => void;
  /** A person's bearer token, sent to the masters (never to chunkservers). */
  token?: string;
}


export function requestMetadata(requestId?: string, token?: string): Metadata {
  const md = new Metadata();
  if (requestId) md.set(REQUEST_ID_KEY, requestId);
  if (token) md.set(AUTHORIZATION_KEY, `Bearer ${token}`);
  return md;
}

/** Throws CANCELLED if the signal has fired. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new DfsError(ErrorCode.CANCELLED, 'operation cancelled');
}

/** Calls one unary method with a deadline and AbortSignal; failures become DfsErrors. */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, ctx: CallContext): Promise<Res> {
  throwIfAborted(ctx.signal);
  return new Promise<Res>((resolve, reject) => {
    const onAbort = (): void => call.cancel();
    const call = method(
      request,
      requestMetadata(ctx.requestId, ctx.token),
      { deadline: Date.now() + ctx.timeoutMs },
      (err, res) => {
        ctx.signal?.removeEventListener('abort', onAbort);
        if (err) reject(toDfsError(err));
        else resolve(res);
      },
    );
    if (ctx.onHeaders) call.on('metadata', ctx.onHeaders);
    ctx.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves after `ms`, or rejects CANCELLED when the signal fires first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DfsError(ErrorCode.CANCELLED, 'operation cancelled'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new DfsError(ErrorCode.CANCELLED, 'operation cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
