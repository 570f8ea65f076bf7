import fs from 'node:fs';

/*
 * Holds fs.fdatasync calls on chosen files until released: a test can stop one node's disk
 * at the moment it syncs and watch what that node (and the others) do meanwhile.
 * SqliteStorage syncs its WAL through fs.fdatasync (storage/sqlite.ts).
 */
export interface FsyncGate {
  /** fdatasyncs waiting at the gate. */
  held(): number;
  /** Paths whose fdatasync completed, in order. */
  readonly synced: string[];
  /** Lets every held fdatasync run, and every later one pass. */
  release(): void;
  /** Lets the fdatasyncs held so far run, and keeps holding later ones. */
  releaseHeld(): void;
  /** Releases and puts fs.fdatasync back. */
  restore(): void;
}

type Fdatasync = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;

export function holdFdatasync(match: (path: string) => boolean): FsyncGate {
  const original = fs.fdatasync as unknown as Fdatasync;
  const waiting: Array<() => void> = [];
  const synced: string[] = [];
  let holding = true;
  const run = (fd: number, path: string, cb: (err: NodeJS.ErrnoException | null) => void): void =>
    original(fd, (err) => {
      if (!err) synced.push(path);
      cb(err);
    });
  (fs as unknown as { fdatasync: Fdatasync }).fdatasync = (fd, cb) => {
    const path = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (holding && match(path)) waiting.push(() => run(fd, path, cb));
    else run(fd, path, cb);
  };
  const release = (): void => {
    holding = false;
    for (const go of waiting.splice(0)) go();
  };
  return {
    held: () => waiting.length,
    synced,
    release,
    releaseHeld: () => {
      for (const go of waiting.splice(0)) go();
    },
    restore: () => {
      release();
      (fs as unknown as { fdatasync: Fdatasync }).fdatasync = original;
    },
  };
}
