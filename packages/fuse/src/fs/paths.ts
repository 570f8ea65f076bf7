import { FsError } from './errno.js';

/** POSIX NAME_MAX; the kernel lets FUSE see names up to 1024 bytes, so we check. */
export const NAME_MAX = 255;

/** The prefix libfuse gives a file it hides when it is unlinked or renamed over while open. */
const HIDDEN_PREFIX = '.fuse_hidden';

/** Throws ENAMETOOLONG for a component longer than NAME_MAX bytes. */
export function checkNames(path: string): void {
  for (const part of path.split('/')) {
    if (Buffer.byteLength(part) > NAME_MAX) throw new FsError('ENAMETOOLONG', `${part.slice(0, 40)}…: name longer than ${NAME_MAX} bytes`);
  }
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** True when `path` is `dir` or beneath it. */
export function isWithin(path: string, dir: string): boolean {
  return dir === '/' || path === dir || path.startsWith(`${dir}/`);
}

/** `path` moved from under `from` to under `to` (caller checked isWithin). */
export function rebase(path: string, from: string, to: string): string {
  if (path === from) return to;
  const rest = from === '/' ? path : path.slice(from.length);
  return to === '/' ? rest : `${to}${rest}`;
}

export function isHiddenName(path: string): boolean {
  return nameOf(path).startsWith(HIDDEN_PREFIX);
}

/** Maps mount-relative paths ('/x/y') to remote paths under the mounted directory. */
export class PathMap {
  readonly root: string;

  constructor(remoteRoot: string) {
    const trimmed = remoteRoot.replace(/\/+$/, '');
    this.root = trimmed === '' ? '/' : trimmed;
  }

  toRemote(path: string): string {
    if (path === '/' || path === '') return this.root;
    return this.root === '/' ? path : `${this.root}${path}`;
  }
}
