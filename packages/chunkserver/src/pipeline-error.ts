import type { ServiceError } from '@grpc/grpc-js';
import { DfsError, ErrorCode, FAILED_CHUNKSERVER_KEY, toDfsError } from '@dfs/proto';

/**
 * Metadata key naming the chunkserver whose failure broke a write pipeline. The message says
 * it too ("chunkserver c3 (127.0.0.1:7103) failed: ..."); the client excludes that id when it
 * asks the master for a new replica set.
 */
export { FAILED_CHUNKSERVER_KEY };

/** A write failure attributed to one chunkserver of the chain. */
export class PipelineError extends DfsError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly failedChunkserver: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }

  override toServiceError(): Partial<ServiceError> {
    const se = super.toServiceError();
    se.metadata?.set(FAILED_CHUNKSERVER_KEY, this.failedChunkserver);
    return se;
  }
}

/** Codes that mean "the request is wrong", not "this node is broken": no node is blamed. */
const REQUEST_ERRORS = new Set<ErrorCode>([
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.STALE_VERSION,
  ErrorCode.UNKNOWN_CHUNK,
  ErrorCode.CANCELLED,
  // A refused chunk access token is the caller's, not this node's: nothing to exclude.
  ErrorCode.PERMISSION_DENIED,
  ErrorCode.TOKEN_EXPIRED,
]);

/** Attributes a local failure to this chunkserver unless it is the caller's fault. */
export function blameSelf(err: unknown, selfId: string): DfsError {
  if (err instanceof PipelineError) return err;
  const d = toDfsError(err);
  if (REQUEST_ERRORS.has(d.code)) return d;
  return new PipelineError(d.code, `chunkserver ${selfId}: ${oneLine(d.message)}`, selfId, { cause: err });
}

/** Attributes an error from a downstream call: to the node it names, else to the downstream itself. */
export function blameDownstream(err: unknown, target: { id: string; address: string }): PipelineError {
  if (err instanceof PipelineError) return err;
  const named = (err as Partial<ServiceError> | undefined)?.metadata?.get(FAILED_CHUNKSERVER_KEY)?.[0];
  const d = toDfsError(err);
  if (named !== undefined && String(named) !== '') return new PipelineError(d.code, oneLine(d.message), String(named), { cause: err });
  const code = d.code === ErrorCode.CANCELLED || d.code === ErrorCode.INTERNAL ? ErrorCode.UNAVAILABLE : d.code;
  return new PipelineError(code, `chunkserver ${target.id} (${target.address}) failed: ${oneLine(d.message)}`, target.id, { cause: err });
}

export function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
