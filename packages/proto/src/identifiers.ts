import { splitHostPort } from './addresses.js';
import { DfsError } from './errors.js';
import { ErrorCode } from './gen/dfs/v1/common.js';
import { MAX_ADDRESS_BYTES, MAX_CLIENT_ID_BYTES, MAX_NODE_ID_BYTES, MAX_REQUEST_ID_BYTES } from './limits.js';

/*
 * The one validator of the ids and addresses a process is given or a caller sends: node ids
 * (masters, chunkservers, racks), client ids, request/operation ids, host:port addresses and
 * `ID=HOST:PORT` members. Every flag parser and RPC handler goes through these.
 */

/** A node id: a letter or digit, then letters, digits, `.`, `_`, `-`; at most MAX_NODE_ID_BYTES. */
const NODE_ID = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${MAX_NODE_ID_BYTES - 1}}$`);
/** Client and request ids: printable ASCII without spaces (they end up in logs and the Raft log). */
const TOKEN = /^[\x21-\x7e]+$/;

function invalid(what: string, value: unknown, why: string): DfsError {
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : typeof value;
  return new DfsError(ErrorCode.INVALID_ARGUMENT, `invalid ${what} ${shown}: ${why}`);
}

export function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && NODE_ID.test(value);
}

/** A master or chunkserver id (also a rack name). */
export function checkNodeId(value: unknown, what = 'node id'): string {
  if (!isNodeId(value)) throw invalid(what, value, `want 1-${MAX_NODE_ID_BYTES} of letters, digits, . _ - (starting with a letter or digit)`);
  return value;
}

function checkToken(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length > max || !TOKEN.test(value)) throw invalid(what, value, `want 1-${max} printable characters without spaces`);
  return value;
}

/** A writer's client id (the lease holder). */
export function checkClientId(value: unknown, what = 'client id'): string {
  return checkToken(value, what, MAX_CLIENT_ID_BYTES);
}

/** A request or operation id; empty means "none". */
export function checkRequestId(value: unknown, what = 'request id'): string {
  if (value === '' || value === undefined) return '';
  return checkToken(value, what, MAX_REQUEST_ID_BYTES);
}

/** A host:port address (port 0 allowed only for listening). */
export function checkAddress(value: unknown, what = 'address', opts: { allowPortZero?: boolean } = {}): string {
  if (typeof value !== 'string' || value.length > MAX_ADDRESS_BYTES) throw invalid(what, value, 'want host:port');
  let port: number;
  try {
    ({ port } = splitHostPort(value));
  } catch {
    throw invalid(what, value, 'want host:port');
  }
  if (port === 0 && !opts.allowPortZero) throw invalid(what, value, 'port 0 is only for listening');
  return value;
}

/** `ID=HOST:PORT`, as --peers and `dfs admin masters add` take it. */
export function parseMember(text: string, what = 'member'): { id: string; address: string } {
  const eq = text.indexOf('=');
  if (eq < 0) throw invalid(what, text, 'want ID=HOST:PORT');
  const id = checkNodeId(text.slice(0, eq), `${what} id`);
  try {
    return { id, address: checkAddress(text.slice(eq + 1), `${what} address`) };
  } catch {
    throw invalid(what, text, 'want ID=HOST:PORT (the address is not host:port)');
  }
}

/** A comma-separated list of `ID=HOST:PORT`, ids unique. */
export function parseMembers(text: string, what = 'member'): Array<{ id: string; address: string }> {
  const out = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((pair) => parseMember(pair, what));
  const seen = new Set<string>();
  for (const m of out) {
    if (seen.has(m.id)) throw invalid(what, m.id, 'listed twice');
    seen.add(m.id);
  }
  return out;
}
