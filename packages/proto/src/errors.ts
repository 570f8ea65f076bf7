import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode } from './gen/dfs/v1/common.js';
import { MAX_ERROR_MESSAGE_BYTES } from './limits.js';

/** Metadata keys that carry the dfs error beside the gRPC status. */
export const ERROR_CODE_KEY = 'dfs-code';
export const LEADER_KEY = 'dfs-leader';
/** Set by a chunkserver on a failed write: the id of the chain member that broke it. */
export const FAILED_CHUNKSERVER_KEY = 'dfs-failed-chunkserver';
/** The request id a client sends and every hop carries on (logged by each node). */
export const REQUEST_ID_KEY = 'dfs-request-id';
/** Sent by a master in every MasterService answer's header: its applied log index (follower reads wait for it). */
export const APPLIED_INDEX_KEY = 'dfs-applied-index';
/** A person's bearer token (`Bearer <jwt>`), for callers without a client certificate. */
export const AUTHORIZATION_KEY = 'authorization';
/** A chunk access token (issued by a master with a chunk location), sent on every ChunkService call. */
export const CHUNK_TOKEN_KEY = 'dfs-chunk-token';

/** Metadata of a ChunkService call (a client's, or a chunkserver's to its next hop): the request id and the chunk access token. */
export function chunkMetadata(requestId: string | undefined, chunkToken: string | undefined): Metadata {
  const md = new Metadata();
  if (requestId) md.set(REQUEST_ID_KEY, requestId);
  if (chunkToken) md.set(CHUNK_TOKEN_KEY, chunkToken);
  return md;
}

/** The gRPC status each dfs error code travels as. */
const GRPC_STATUS_BY_CODE: Record<ErrorCode, GrpcStatus> = {
  [ErrorCode.ERROR_CODE_UNSPECIFIED]: GrpcStatus.UNKNOWN,
  [ErrorCode.NOT_FOUND]: GrpcStatus.NOT_FOUND,
  [ErrorCode.ALREADY_EXISTS]: GrpcStatus.ALREADY_EXISTS,
  [ErrorCode.NOT_LEADER]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.INVALID_PATH]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.NOT_A_DIRECTORY]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.IS_A_DIRECTORY]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.NOT_EMPTY]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.LEASE_HELD]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.LEASE_EXPIRED]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.NO_SPACE]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.CHECKSUM_MISMATCH]: GrpcStatus.DATA_LOSS,
  [ErrorCode.STALE_VERSION]: GrpcStatus.FAILED_PRECONDITION,
  [ErrorCode.UNKNOWN_CHUNK]: GrpcStatus.NOT_FOUND,
  [ErrorCode.NOT_ENOUGH_CHUNKSERVERS]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.INVALID_ARGUMENT]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.UNAVAILABLE]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.SAFE_MODE]: GrpcStatus.UNAVAILABLE,
  [ErrorCode.NAME_TOO_LONG]: GrpcStatus.INVALID_ARGUMENT,
  [ErrorCode.INTERNAL]: GrpcStatus.INTERNAL,
  [ErrorCode.DEADLINE_EXCEEDED]: GrpcStatus.DEADLINE_EXCEEDED,
  [ErrorCode.CANCELLED]: GrpcStatus.CANCELLED,
  [ErrorCode.PERMISSION_DENIED]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.QUOTA_EXCEEDED]: GrpcStatus.RESOURCE_EXHAUSTED,
  [ErrorCode.TOKEN_EXPIRED]: GrpcStatus.PERMISSION_DENIED,
  [ErrorCode.UNRECOGNIZED]: GrpcStatus.UNKNOWN,
};

/** Best guess of a dfs code for a gRPC status that arrived without one (transport errors). */
const CODE_BY_GRPC_STATUS: Partial<Record<GrpcStatus, ErrorCode>> = {
  [GrpcStatus.NOT_FOUND]: ErrorCode.NOT_FOUND,
  [GrpcStatus.ALREADY_EXISTS]: ErrorCode.ALREADY_EXISTS,
  [GrpcStatus.INVALID_ARGUMENT]: ErrorCode.INVALID_ARGUMENT,
  [GrpcStatus.UNAVAILABLE]: ErrorCode.UNAVAILABLE,
  [GrpcStatus.DEADLINE_EXCEEDED]: ErrorCode.DEADLINE_EXCEEDED,
  [GrpcStatus.CANCELLED]: ErrorCode.CANCELLED,
  [GrpcStatus.RESOURCE_EXHAUSTED]: ErrorCode.INVALID_ARGUMENT,
  [GrpcStatus.DATA_LOSS]: ErrorCode.CHECKSUM_MISMATCH,
  [GrpcStatus.PERMISSION_DENIED]: ErrorCode.PERMISSION_DENIED,
  [GrpcStatus.UNAUTHENTICATED]: ErrorCode.PERMISSION_DENIED,
};

export function errorCodeName(code: ErrorCode): string {
  return ErrorCode[code] ?? `CODE_${code}`;
}

/** The one error type every dfs component throws and every RPC carries. */
export class DfsError extends Error {
  readonly code: ErrorCode;
  /** For NOT_LEADER: the leader's address when known. */
  readonly leader?: string;

  constructor(code: ErrorCode, message: string, options?: { leader?: string; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'DfsError';
    this.code = code;
    if (options?.leader) this.leader = options.leader;
  }

  get codeName(): string {
    return errorCodeName(this.code);
  }

  /** Converts to what a grpc-js handler passes to its callback or `emit('error')`. */
  toServiceError(): Partial<ServiceError> {
    const metadata = new Metadata();
    metadata.set(ERROR_CODE_KEY, String(this.code));
    if (this.leader) metadata.set(LEADER_KEY, this.leader);
    // A message may quote what the caller sent: bounded, so it always fits in the trailers.
    const details = this.message.length > MAX_ERROR_MESSAGE_BYTES ? `${this.message.slice(0, MAX_ERROR_MESSAGE_BYTES - 1)}…` : this.message;
    return { code: GRPC_STATUS_BY_CODE[this.code] ?? GrpcStatus.UNKNOWN, details, metadata };
  }

  static is(err: unknown, code?: ErrorCode): err is DfsError {
    return err instanceof DfsError && (code === undefined || err.code === code);
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && 'code' in err && 'metadata' in err;
}

/** Converts anything thrown (a grpc-js ServiceError, a DfsError, a plain Error) into a DfsError. */
export function toDfsError(err: unknown): DfsError {
  if (err instanceof DfsError) return err;
  if (isServiceError(err)) {
    const raw = err.metadata?.get(ERROR_CODE_KEY)?.[0];
    const leader = err.metadata?.get(LEADER_KEY)?.[0];
    const code = raw !== undefined ? (Number(raw) as ErrorCode) : CODE_BY_GRPC_STATUS[err.code as GrpcStatus] ?? ErrorCode.INTERNAL;
    return new DfsError(code, err.details || err.message, {
      leader: leader === undefined ? undefined : String(leader),
      cause: err,
    });
  }
  if (err instanceof Error) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOSPC') return new DfsError(ErrorCode.NO_SPACE, err.message, { cause: err });
    if (errno === 'ENOENT') return new DfsError(ErrorCode.NOT_FOUND, err.message, { cause: err });
    return new DfsError(ErrorCode.INTERNAL, err.message, { cause: err });
  }
  return new DfsError(ErrorCode.INTERNAL, String(err));
}

/** What a grpc-js handler hands to its callback for any thrown value. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  return toDfsError(err).toServiceError();
}
