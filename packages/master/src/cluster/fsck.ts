import { DfsError, ErrorCode, FileType, isSameOrDescendant, joinPath, normalizePath, pathComponents, type FileStatus, type FsckChunk, type FsckResponse } from '@dfs/proto';
import type { ChunkFacts, ReplicationMonitor } from './replication.js';

/*
 * fsck (HDFS NamenodeFsck): walks the namespace under a path and classifies every committed
 * chunk of every complete file against the leader's soft state:
 *
 *   healthy           live good replicas ≥ target and no replica known corrupt
 *   under-replicated  0 < live good replicas < target (or only draining nodes hold it)
 *   missing           no good replica on any node that is not dead
 *   corrupt           some replica was reported corrupt and is not replaced yet
 *
 * Paged: one call checks at most `maxFiles` files, for at most `budgetMs`, in path order
 * (directories depth first, names sorted) after the cursor `startAfter` — the last entry a
 * previous page finished, a file checked or a directory walked to its end — and returns the
 * cursor to continue from.
 * So a million-file namespace is many short calls, none holding the event loop (and the
 * Raft heartbeats it sends) for long, none near a message limit. Counts are per page; the
 * client sums them. Files under construction are not listed (invisible until complete).
 */

/** The slice of the metadata store fsck reads. */
export interface FsckNamespace {
  stat(path: string): FileStatus;
  list(path: string, startAfter: string, limit: number): { entries: FileStatus[]; hasMore: boolean };
  getFile(path: string): { file: FileStatus; chunks: Array<{ handle: number; idx: number; version: number; length: number; committed: number }> };
}

export interface FsckOptions {
  maxProblems: number;
  safeMode: boolean;
  /** Continue after this entry ("" = from the start). */
  startAfter?: string;
  /** Files checked in this page at most. */
  maxFiles: number;
  /** The page also ends once it has run this long (after at least one file): the event loop is never held longer. */
  budgetMs?: number;
  /** Milliseconds, for the budget (tests inject one). */
  now?: () => number;
}

/** Files checked per page unless the caller asks for another count; the most it may ask for. */
export const FSCK_PAGE_FILES = 2000;
export const FSCK_MAX_PAGE_FILES = 20_000;
/**
 * A page also ends after this long: on this (loaded, 2-core) machine a file costs 0.1–0.4 ms,
 * and Raft heartbeats go out every 100 ms from the same event loop.
 */
export const FSCK_PAGE_BUDGET_MS = 50;
/** Problem chunks listed per page at most (a page answer stays far below the message limit). */
export const FSCK_MAX_PAGE_PROBLEMS = 5000;

export function runFsck(ns: FsckNamespace, monitor: ReplicationMonitor, root: string, opts: FsckOptions): FsckResponse {
  const maxProblems = Math.min(opts.maxProblems, FSCK_MAX_PAGE_PROBLEMS);
  const out: FsckResponse = {
    setAside: [],
    setAsideOmitted: 0,
    healthy: true,
    files: 0,
    directories: 0,
    totalBytes: 0,
    totalChunks: 0,
    underReplicated: 0,
    missing: 0,
    corrupt: 0,
    overReplicated: 0,
    problems: [],
    problemsOmitted: 0,
    safeMode: opts.safeMode,
    replicationQueue: monitor.queueLength(),
    replicationInflight: monitor.stats().inflight,
    nextStartAfter: '',
  };
  const problem = (p: FsckChunk): void => {
    if (out.problems.length < maxProblems) out.problems.push(p);
    else out.problemsOmitted++;
  };
  const checkFile = (path: string): void => {
    const { file, chunks } = ns.getFile(path);
    out.files++;
    out.totalBytes += file.size;
    for (const c of chunks) {
      if (!c.committed) continue;
      out.totalChunks++;
      const facts: ChunkFacts = { version: c.version, committed: true, replication: file.replication };
      const h = monitor.health(c.handle, facts);
      const base = {
        path,
        index: c.idx,
        handle: c.handle,
        liveReplicas: h.live.length,
        target: file.replication,
        replicas: h.good.map((r) => r.node.id).sort(),
        corruptReplicas: h.corrupt.sort(),
      };
      if (h.corrupt.length > 0) out.corrupt++;
      if (h.good.length === 0) {
        out.missing++;
        problem({ ...base, status: 'missing' });
      } else if (h.live.length < file.replication) {
        out.underReplicated++;
        problem({ ...base, status: 'under-replicated' });
      } else if (h.corrupt.length > 0) {
        problem({ ...base, status: 'corrupt' });
      } else if (h.live.length > file.replication) {
        out.overReplicated++;
      }
    }
  };

  // The cursor is the last entry finished: a file checked, or a directory walked to its end
  // (and only then counted), so resuming never counts anything twice. Only files fill a
  // page, and every page checks at least one: the walk always moves on.
  let checked = 0;
  let last = '';
  const now = opts.now ?? Date.now;
  const endBy = opts.budgetMs === undefined ? Infinity : now() + opts.budgetMs;
  /** Walks `dir` (fresh, or resumed at the cursor components `resume`); false when the page filled up first. */
  const visit = (dir: string, resume: string[] | undefined): boolean => {
    let after = '';
    if (resume && resume.length > 0) {
      const [name, ...rest] = resume as [string, ...string[]];
      if (rest.length > 0 && !visitExisting(joinPath(dir, name), rest)) return false;
      after = name;
    }
    for (;;) {
      const page = ns.list(dir, after, 256); // small pages: no long single step
      for (const e of page.entries) {
        if (e.type === FileType.DIRECTORY) {
          if (!visit(e.path, undefined)) return false;
          continue;
        }
        if (e.underConstruction || e.type !== FileType.FILE) continue; // symlinks and special files have no chunks
        if (checked >= opts.maxFiles || (checked > 0 && now() >= endBy)) return false;
        checked++;
        checkFile(e.path);
        last = e.path;
      }
      if (!page.hasMore || page.entries.length === 0) break;
      after = page.entries[page.entries.length - 1]!.name;
    }
    out.directories++;
    last = dir;
    return true;
  };
  /** A directory named by the cursor may be gone (or no longer a directory) by now: nothing left in it. */
  const visitExisting = (child: string, rest: string[]): boolean => {
    try {
      return visit(child, rest);
    } catch (err) {
      if (DfsError.is(err, ErrorCode.NOT_FOUND) || DfsError.is(err, ErrorCode.NOT_A_DIRECTORY)) return true;
      throw err;
    }
  };

  const top = ns.stat(root);
  if (top.type === FileType.DIRECTORY) {
    const cursor = opts.startAfter ? normalizePath(opts.startAfter) : '';
    if (cursor && (cursor === top.path || !isSameOrDescendant(cursor, top.path))) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, `fsck start_after ${JSON.stringify(opts.startAfter)} is not below ${top.path}`);
    }
    const resume = cursor ? pathComponents(cursor).slice(pathComponents(top.path).length) : undefined;
    if (!visit(top.path, resume)) out.nextStartAfter = last;
  } else if (!top.underConstruction && !opts.startAfter && top.type === FileType.FILE) {
    checkFile(top.path);
  }
  out.healthy = !opts.safeMode && out.missing === 0 && out.underReplicated === 0 && out.corrupt === 0;
  return out;
}
