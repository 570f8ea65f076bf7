import { FsError } from './errno.js';
import type { FileVersion } from './file-version.js';
import type { OpenFile } from './open-file.js';
import { isWithin, parentOf, rebase } from './paths.js';
import { newReadahead, type ReadaheadState } from './remote-reader.js';

/** One open(2) as FUSE sees it: a number handed to the kernel. */
export interface Handle {
  fd: number;
  file: OpenFile;
  /** The committed version this handle reads while the file has no spool (close-to-open). */
  version: FileVersion | null;
  readahead: ReadaheadState;
  /** Opened for writing: only such a handle's flush commits (closing a reader does not). */
  writable: boolean;
}

/** The open files of this mount by path, and their handles by number. */
export class OpenFiles {
  private readonly byPath = new Map<string, OpenFile>();
  private readonly handles = new Map<number, Handle>();
  private nextFd = 1;

  get(path: string): OpenFile | undefined {
    return this.byPath.get(path);
  }

  add(file: OpenFile): void {
    this.byPath.set(file.path, file);
  }

  /** Forgets the path of `file` (its handles stay usable). */
  detach(file: OpenFile): void {
    if (this.byPath.get(file.path) === file) this.byPath.delete(file.path);
  }

  open(file: OpenFile, version: FileVersion | null, writable = true): number {
    // fd 0 means "no handle" to fuse-native; numbers wrap well before 2^31.
    const fd = this.nextFd;
    this.nextFd = this.nextFd >= 0x7fff_fff0 ? 1 : this.nextFd + 1;
    this.handles.set(fd, { fd, file, version, readahead: newReadahead(), writable });
    file.handles.add(fd);
    return fd;
  }

  handle(fd: number): Handle {
    const h = this.handles.get(fd);
    if (!h) throw new FsError('EBADF', `no open handle ${fd}`);
    return h;
  }

  /** Drops a handle; returns its file. */
  close(fd: number): OpenFile {
    const h = this.handle(fd);
    this.handles.delete(fd);
    h.file.handles.delete(fd);
    return h.file;
  }

  /** Moves every open file at or under `from` to the same place under `to`. */
  rename(from: string, to: string): void {
    for (const file of [...this.byPath.values()]) {
      if (!isWithin(file.path, from)) continue;
      this.byPath.delete(file.path);
      file.path = rebase(file.path, from, to);
      this.byPath.set(file.path, file);
    }
  }

  /** Open files directly inside `dir` that are not orphans. */
  childrenOf(dir: string): OpenFile[] {
    return [...this.byPath.values()].filter((f) => !f.orphan && f.path !== dir && parentOf(f.path) === dir);
  }

  all(): OpenFile[] {
    return [...new Set([...this.byPath.values(), ...[...this.handles.values()].map((h) => h.file)])];
  }
}
