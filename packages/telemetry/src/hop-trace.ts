import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * Hop timestamps for `make trace-small`: where one request's time goes across processes.
 * Off unless DFS_HOP_TRACE names a directory; then every process appends lines
 * `<hop> <key> <ns>` to <dir>/<pid>.hops, where ns is process.hrtime (CLOCK_MONOTONIC,
 * one clock for every process on the machine, so hops of different processes compare).
 * `key` ties hops of one request together (a Raft entry index) or is 0. Lines are buffered
 * and written every FLUSH_MS and at exit: a mark costs an array push, no I/O on the path.
 */
const FLUSH_MS = 50;

export type HopMark = (hop: string, key?: number) => void;

const dir = process.env.DFS_HOP_TRACE;
let lines: string[] = [];

function flush(): void {
  if (!dir || lines.length === 0) return;
  const out = lines.join('');
  lines = [];
  try {
    appendFileSync(join(dir, `${process.pid}.hops`), out);
  } catch {
    /* tracing must never break the process */
  }
}

if (dir) {
  setInterval(flush, FLUSH_MS).unref();
  process.on('exit', flush);
}

/** Records that `hop` happened now (for request `key`); a no-op unless DFS_HOP_TRACE is set. */
export const markHop: HopMark = dir ? (hop, key = 0) => void lines.push(`${hop} ${key} ${process.hrtime.bigint()}\n`) : () => undefined;

/** Whether hops are being recorded (callers skip building keys when not). */
export const hopTraceOn = Boolean(dir);
