import type { Metadata, ServiceDefinition, UntypedServiceImplementation, ServerUnaryCall, ServiceError } from '@grpc/grpc-js';
import { ErrorCode, errorCodeName, ERROR_CODE_KEY, REQUEST_ID_KEY } from '@dfs/proto';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';


export function requestIdOf(metadata: Metadata | undefined): string | undefined {
  const v = metadata?.get(REQUEST_ID_KEY)?.[0];
  return v === undefined || v === '' ? undefined : String(v);
}

function codeOf(err: Partial<ServiceError> | null | undefined): string {
  if (!err) return 'OK';
  const raw = err.metadata?.get(ERROR_CODE_KEY)?.[0];
  return raw !== undefined ? errorCodeName(Number(raw) as ErrorCode) : `GRPC_${err.code ?? 'UNKNOWN'}`;
}

type AnyHandler = (call: ServerUnaryCall<unknown, unknown> & { on?: (ev: string, fn: (...a: unknown[]) => void) => void; emit?: unknown }, cb?: (err: Partial<ServiceError> | null, res?: unknown) => void) => void;

/**
 * Wraps every handler of a service: counts calls and latency by method and dfs code,
 * and logs each call with its request id (debug for successes, warn for internal errors).
 */
export function instrumentService<S extends UntypedServiceImplementation>(
  serviceName: string,
  definition: ServiceDefinition,
  impl: S,
  metrics: Metrics,
  log: Logger,
): S {
  const wrapped: UntypedServiceImplementation = {};
  for (const [key, handler] of Object.entries(impl)) {
    const def = definition[key];
    if (!def || typeof handler !== 'function') {
      wrapped[key] = handler;
      continue;
    }
    const method = def.path.split('/').pop() ?? key;
    const original = handler as unknown as AnyHandler;
    const record = (started: bigint, err: Partial<ServiceError> | null | undefined, requestId: string | undefined): void => {
      const code = codeOf(err);
      const secs = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.rpcDuration.observe({ service: serviceName, method, code }, secs);
      metrics.rpcTotal.inc({ service: serviceName, method, code });
      const fields = { rpc: method, code, ms: Math.round(secs * 1e4) / 10, ...(requestId ? { requestId } : {}) };
      if (code === 'INTERNAL' || code.startsWith('GRPC_')) log.warn({ ...fields, err: err?.details }, 'rpc failed');
      else if (requestId) log.info(fields, 'rpc');
      else log.debug(fields, 'rpc');
    };
    const replacement: AnyHandler = (call, callback) => {
      const started = process.hrtime.bigint();
      const requestId = requestIdOf(call.metadata);
      if (callback) {
        // unary and client-streaming: the callback carries the outcome
        return original(call, (err, res) => {
          record(started, err, requestId);
          callback(err, res);
        });
      }
      // server streaming: outcome is 'finish' or an emitted error
      let done = false;
      const stream = call as unknown as NodeJS.EventEmitter & { emit: (ev: string, ...a: unknown[]) => boolean };
      const originalEmit = stream.emit.bind(stream);
      stream.emit = (ev: string, ...args: unknown[]): boolean => {
        if (!done && ev === 'error') {
          done = true;
          record(started, args[0] as Partial<ServiceError>, requestId);
        }
        return originalEmit(ev, ...args);
      };
      stream.once('finish', () => {
        if (!done) {
          done = true;
          record(started, null, requestId);
        }
      });
      return original(call);
    };
    wrapped[key] = replacement as unknown as UntypedServiceImplementation[string];
  }
  return wrapped as S;
}
