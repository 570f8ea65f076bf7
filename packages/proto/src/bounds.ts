import { DfsError } from './errors.js';
import { ErrorCode } from './gen/dfs/v1/common.js';
import { checkAddress, checkClientId, checkNodeId, checkRequestId } from './identifiers.js';
import {
  MAX_CHAIN_LENGTH,
  MAX_EXCLUDED_CHUNKSERVERS,
  MAX_LIST_ITEMS,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  MAX_REASON_BYTES,
  MAX_STRING_BYTES,
} from './limits.js';

/*
 * Bounds on every string and count a caller sends, checked on the decoded request before a
 * handler sees it. The rules go by field name, so one table covers every message of the
 * wire contract (a field of the same name means the same thing in every message):
 * ids must be ids, addresses addresses, free text and lists have a ceiling. A field named
 * here that a future message reuses with another meaning must be renamed, not exempted.
 */

type Rule = (value: string, field: string) => void;

const nodeId: Rule = (v, f) => void (v !== '' && checkNodeId(v, f));
const requestId: Rule = (v, f) => void checkRequestId(v, f);
const address: Rule = (v, f) => void (v !== '' && checkAddress(v, f));
const maxBytes =
  (max: number, code = ErrorCode.INVALID_ARGUMENT): Rule =>
  (v, f) => {
    if (v.length > max || Buffer.byteLength(v) > max) throw new DfsError(code, `${f} longer than ${max} bytes`);
  };

const STRING_RULES: Record<string, Rule> = {
  id: nodeId,
  chunkserverId: nodeId,
  rack: nodeId,
  from: nodeId,
  to: nodeId,
  clientId: (v, f) => void (v !== '' && checkClientId(v, f)),
  requestId,
  opId: requestId,
  address,
  reason: maxBytes(MAX_REASON_BYTES),
  path: maxBytes(MAX_PATH_BYTES, ErrorCode.NAME_TOO_LONG),
  src: maxBytes(MAX_PATH_BYTES, ErrorCode.NAME_TOO_LONG),
  dst: maxBytes(MAX_PATH_BYTES, ErrorCode.NAME_TOO_LONG),
  // A symlink's target: a path, bounded like one (ENAMETOOLONG past PATH_MAX).
  target: maxBytes(MAX_PATH_BYTES, ErrorCode.NAME_TOO_LONG),
  name: maxBytes(MAX_NAME_BYTES, ErrorCode.NAME_TOO_LONG),
  startAfter: maxBytes(MAX_NAME_BYTES, ErrorCode.NAME_TOO_LONG),
};

/** Lists of chunkserver ids, by field name. */
const ID_LISTS = new Set(['excludeChunkservers', 'replicas', 'corruptReplicas']);

const LIST_LIMITS: Record<string, number> = {
  excludeChunkservers: MAX_EXCLUDED_CHUNKSERVERS,
  chain: MAX_CHAIN_LENGTH,
};

const MAX_DEPTH = 8;

/** Throws a typed DfsError (INVALID_ARGUMENT or NAME_TOO_LONG) naming the first field out of bounds. */
export function checkBounds(message: unknown, what = 'request'): void {
  walk(message, what, '', 0);
}

function walk(value: unknown, where: string, field: string, depth: number): void {
  if (value === null || value === undefined || typeof value === 'boolean' || typeof value === 'bigint') return;
  const label = field ? `${where}.${field}` : where;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${label} is not a finite number`);
    return;
  }
  if (typeof value === 'string') {
    const rule = STRING_RULES[field];
    if (rule) rule(value, label);
    else maxBytes(MAX_STRING_BYTES)(value, label);
    return;
  }
  if (depth >= MAX_DEPTH) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${label} nested too deeply`);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return; // bounded by the message size
  if (Array.isArray(value)) {
    const limit = LIST_LIMITS[field] ?? MAX_LIST_ITEMS;
    if (value.length > limit) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${label} has ${value.length} items (max ${limit})`);
    const idList = ID_LISTS.has(field);
    for (const item of value) {
      if (idList && typeof item === 'string') checkNodeId(item, `${label}[]`);
      else walk(item, label, '', depth + 1);
    }
    return;
  }
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, label, k, depth + 1);
  }
}
