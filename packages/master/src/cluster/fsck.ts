import { FileType, type FileStatus, type FsckChunk, type FsckResponse } from '@dfs/proto';
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
 * Only the leader can answer (followers have no replica locations). Reads the database
 * directly, one directory page at a time; files under construction are not listed (they are
 * invisible until complete).
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
}

export function runFsck(ns: FsckNamespace, monitor: ReplicationMonitor, root: string, opts: FsckOptions): FsckResponse {
  const out: FsckResponse = {
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
  };
  const problem = (p: FsckChunk): void => {
    if (out.problems.length < opts.maxProblems) out.problems.push(p);
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

  const top = ns.stat(root);
  if (top.type === FileType.DIRECTORY) {
    const stack = [top.path];
    while (stack.length > 0) {
      const dir = stack.pop()!;
      out.directories++;
      let after = '';
      for (;;) {
        const page = ns.list(dir, after, 1000);
        for (const e of page.entries) {
          if (e.type === FileType.DIRECTORY) stack.push(e.path);
          else if (!e.underConstruction) checkFile(e.path);
        }
        if (!page.hasMore || page.entries.length === 0) break;
        after = page.entries[page.entries.length - 1]!.name;
      }
    }
  } else if (!top.underConstruction) {
    checkFile(top.path);
  }
  out.healthy = !opts.safeMode && out.missing === 0 && out.underReplicated === 0 && out.corrupt === 0;
  return out;
}
