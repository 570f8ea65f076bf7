import { DfsError } from './errors.js';
import { ErrorCode } from './gen/dfs/v1/common.js';

/**
 * Splits "host:port" or "[v6]:port" (port 0 = ephemeral); INVALID_ARGUMENT otherwise.
 * The one parser for every --listen, --http and peer address.
 */
export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `invalid address ${JSON.stringify(text)} (want host:port)`);
  return { host: (m[1] ?? m[2])!, port };
}

/** True for a host that binds every interface (0.0.0.0, ::): never an address to dial. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]' || host === '';
}

/** "host:port", bracketing an IPv6 literal. */
export function joinHostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}
