import { DfsError } from './errors.js';
import { ErrorCode } from './gen/dfs/v1/common.js';
import { MAX_NAME_BYTES, MAX_PATH_BYTES } from './limits.js';

/**
 * Normalises a remote path: absolute, '/'-separated, no trailing slash (except '/').
 * Repeated slashes collapse ('//a' → '/a'); '.' components are dropped.
 * Errors (INVALID_PATH): relative paths, '..', NUL, empty input. NAME_TOO_LONG for a
 * component over 255 bytes.
 */
export function normalizePath(path: string): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new DfsError(ErrorCode.INVALID_PATH, 'invalid path: empty');
  }
  if (path.includes('\0')) throw new DfsError(ErrorCode.INVALID_PATH, `invalid path: contains NUL: ${JSON.stringify(path)}`);
  if (!path.startsWith('/')) throw new DfsError(ErrorCode.INVALID_PATH, `invalid path: not absolute: ${path}`);
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    throw new DfsError(ErrorCode.NAME_TOO_LONG, `invalid path: longer than ${MAX_PATH_BYTES} bytes`);
  }
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new DfsError(ErrorCode.INVALID_PATH, `invalid path: '..' not allowed: ${path}`);
    if (Buffer.byteLength(part) > MAX_NAME_BYTES) {
      throw new DfsError(ErrorCode.NAME_TOO_LONG, `invalid path: name longer than ${MAX_NAME_BYTES} bytes: ${part.slice(0, 40)}…`);
    }
    parts.push(part);
  }
  return '/' + parts.join('/');
}

/** Splits a normalised path into its components ('/' → []). */
export function pathComponents(normalized: string): string[] {
  return normalized === '/' ? [] : normalized.slice(1).split('/');
}

/** Parent of a normalised path ('/a/b' → '/a'; '/' → '/'). */
export function parentPath(normalized: string): string {
  const i = normalized.lastIndexOf('/');
  return i <= 0 ? '/' : normalized.slice(0, i);
}

/** Last component of a normalised path ('/' → ''). */
export function baseName(normalized: string): string {
  return normalized.slice(normalized.lastIndexOf('/') + 1);
}

/** Joins a normalised directory and a child name. */
export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** True when `path` is `ancestor` or lies beneath it (both normalised). */
export function isSameOrDescendant(path: string, ancestor: string): boolean {
  if (ancestor === '/') return true;
  return path === ancestor || path.startsWith(ancestor + '/');
}
