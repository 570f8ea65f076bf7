import { join } from 'node:path';
import { REPO_ROOT } from '@dfs/testkit';
import type { CompletedOp } from './history.js';
import { appendRecord, CHUNK_SIZE, sha256, type FinalState } from './workload.js';

// The Wing–Gong linearizability search of the Raft tests, here with a file-system model.
type CheckerModule = typeof import('../../packages/raft/test/lin/checker.js');
const { checkModel } = require(join(REPO_ROOT, 'packages/raft/dist/test/lin/checker.js')) as CheckerModule;

export interface CheckReport {
  name: string;
  ok: boolean;
  ops: number;
  anomalies: string[];
  /** Histories the search gave up on (too many unknown outcomes): neither passed nor failed. */
  inconclusive?: string[];
  /** Operations whose outcome the client never learned (they may or may not have happened). */
  unknown?: number;
}

/** Search steps per pair of paths before giving up (long runs with many timeouts explode the search). */
const SEARCH_STEPS = 5_000_000;

/* ---------- metadata: linearizable, per pair of paths ---------- */

type Pair = { a: number | null; b: number | null };

/**
 * Sizes a put of `v` bytes may leave when its outcome is unknown: all of it, or, when the
 * writer died and lease recovery closed the file without it (RecoverLease, as HDFS), a prefix
 * of whole chunks (0 for these small files). The data checker allows the same.
 */
function putSizes(v: number): number[] {
  const sizes = [v];
  for (let k = 0; k * CHUNK_SIZE < v; k++) sizes.push(k * CHUNK_SIZE);
  return sizes;
}

/** The sequential specification of one pair of paths: the states one op can lead to (none: impossible). */
function pairStep(s: Pair, op: CompletedOp): Pair[] {
  const p = op.args.p as 'a' | 'b';
  const known = op.outcome === 'ok';
  const err = op.out?.err;
  const v = op.args.v as number;
  const only = (ok: boolean): Pair[] => (ok ? [s] : []);
  switch (op.f) {
    case 'create':
      // ALREADY_EXISTS is a definite answer (the master's retry cache answers a retried
      // CreateFile with its first result): nothing was created, and the path existed.
      if (known && err === 'ALREADY_EXISTS') return only(s[p] !== null);
      if (s[p] !== null) return only(!known);
      return known ? [{ ...s, [p]: v }] : putSizes(v).map((size) => ({ ...s, [p]: size }));
    case 'overwrite':
      return known ? [{ ...s, [p]: v }] : putSizes(v).map((size) => ({ ...s, [p]: size }));
    case 'delete':
      if (!known) return [{ ...s, [p]: null }];
      if (err === 'NOT_FOUND') return only(s[p] === null);
      return s[p] === null ? [] : [{ ...s, [p]: null }];
    case 'rename': {
      const d = op.args.dst as 'a' | 'b';
      const allowed = s[p] !== null && (s[d] === null || op.args.overwrite === true);
      const after: Pair = { ...s, [d]: s[p], [p]: null };
      if (!known) return allowed ? [after] : [s];
      if (err === 'NOT_FOUND') return only(s[p] === null);
      if (err === 'ALREADY_EXISTS') return only(s[p] !== null && s[d] !== null && op.args.overwrite !== true);
      return allowed ? [after] : [];
    }
    case 'stat':
      return only(!known || (op.out?.size ?? null) === s[p]);
    default:
      return [];
  }
}

/** One state as a short string ("5/-": a holds 5 bytes, b is absent): the search hashes many. */
function encode(s: Pair): string {
  return `${s.a ?? '-'}/${s.b ?? '-'}`;
}

function decode(text: string): Pair {
  const [a, b] = text.split('/').map((x) => (x === '-' ? null : Number(x)));
  return { a: a ?? null, b: b ?? null };
}

/** The model's initial state: both paths absent. */
export const META_INIT = encode({ a: null, b: null });

/**
 * `pairStep` over a set of states (the state is the sorted set, " "-separated, so the search
 * can memoise it): an unknown put has more than one possible result, and the set keeps them all.
 */
export function metaStep(state: string, op: CompletedOp): { ok: boolean; state: string } {
  const next = new Set<string>();
  for (const s of state.split(' ')) for (const n of pairStep(decode(s), op)) next.add(encode(n));
  return { ok: next.size > 0, state: [...next].sort().join(' ') };
}

/**
 * Unknown writes whose possible sizes no read of the pair ever saw, left out of a first, quicker search. Sound one
 * way only: an unknown operation may always take effect after everything else (or never), so
 * if the history without them is linearizable, so is the whole one; if not, the whole history
 * decides (such a write may be what made a path exist for a later ALREADY_EXISTS or rename).
 */
function withoutUnseenWrites(ops: CompletedOp[]): CompletedOp[] {
  const seen = new Set(ops.filter((o) => o.f === 'stat' && o.outcome === 'ok').map((o) => o.out?.size));
  return ops.filter((o) => o.outcome !== 'unknown' || !(o.f === 'create' || o.f === 'overwrite') || putSizes(o.args.v as number).some((size) => seen.has(size)));
}

export function checkMetadata(history: CompletedOp[], final?: FinalState): CheckReport {
  const META = new Set(['create', 'overwrite', 'rename', 'delete', 'stat']);
  const byKey = new Map<string, CompletedOp[]>();
  let count = 0;
  for (const op of history) {
    if (!META.has(op.f) || op.outcome === 'fail') continue;
    if (op.f === 'stat' && op.outcome === 'unknown') continue; // a read with no answer says nothing
    count++;
    const key = String(op.args.key);
    const list = byKey.get(key);
    if (list) list.push(op);
    else byKey.set(key, [op]);
  }
  const anomalies: string[] = [];
  const inconclusive: string[] = [];
  const unknown = [...byKey.values()].flat().filter((o) => o.outcome === 'unknown').length;
  for (const [key, ops] of [...byKey].sort()) {
    // The final state, read after everything settled, is one more read at the very end.
    const tail: CompletedOp[] = [];
    if (final) {
      const end = Math.max(...ops.map((o) => (Number.isFinite(o.ret) ? o.ret : o.call))) + 1e9;
      for (const p of ['a', 'b'] as const) {
        tail.push({ id: -1, proc: 'final', f: 'stat', args: { key, p }, out: { size: final.meta[`/meta/${key}/${p}`] ?? null }, outcome: 'ok', call: end, ret: end + 1 });
      }
    }
    const all = [...ops, ...tail];
    const quick = checkModel(withoutUnseenWrites(all), META_INIT, metaStep, SEARCH_STEPS);
    const verdict = quick === true ? true : checkModel(all, META_INIT, metaStep, SEARCH_STEPS);
    if (verdict === false) anomalies.push(`metadata: the history of /meta/${key}/{a,b} (${ops.length} ops) is not linearizable`);
    if (verdict === undefined) inconclusive.push(`/meta/${key}/{a,b}: ${ops.length} ops, ${ops.filter((o) => o.outcome === 'unknown').length} unknown`);
  }
  return { name: 'metadata linearizability', ok: anomalies.length === 0, ops: count, anomalies, inconclusive, unknown };
}

/* ---------- appends ---------- */

const RECORD = /^R([a-z0-9]+)\.(\d+)\.([0-9a-f]{16})$/;

/**
 * dfs append semantics (packages/client/README.md, "Append semantics"): an append is
 * atomic and at most once. Its bytes appear whole and contiguous, once, or not at all; the
 * file only grows; a reader sees a prefix of the one final order. An acknowledged append is
 * present; one whose outcome was unknown may or may not be; no record ever appears twice.
 */
export function checkAppends(history: CompletedOp[], final: FinalState): CheckReport {
  const anomalies: string[] = [];
  const intended = new Map<string, { file: string; outcome: string }>();
  let count = 0;
  for (const op of history) {
    if (op.f !== 'append') continue;
    count++;
    intended.set(String(op.args.record), { file: String(op.args.file), outcome: op.outcome });
  }
  for (const [file, content] of Object.entries(final.appendFiles)) {
    const lines = content.split('\n');
    if (lines.pop() !== '') anomalies.push(`${file}: does not end with a whole record`);
    const seen = new Set<string>();
    for (const [i, line] of lines.entries()) {
      const m = RECORD.exec(line);
      if (!m || appendRecord(m[1]!, Number(m[2])) !== `${line}\n`) {
        anomalies.push(`${file}: record ${i} is torn or corrupt: ${JSON.stringify(line.slice(0, 80))}`);
        continue;
      }
      if (seen.has(line)) anomalies.push(`${file}: record ${line} appears twice`);
      seen.add(line);
      const want = intended.get(line);
      if (!want) anomalies.push(`${file}: record ${line} was never appended`);
      else if (want.file !== file) anomalies.push(`${file}: record ${line} was appended to ${want.file}`);
      else if (want.outcome === 'fail') anomalies.push(`${file}: record ${line} is present though its append failed`);
    }
    for (const [record, want] of intended) {
      if (want.file === file && want.outcome === 'ok' && !seen.has(record)) anomalies.push(`${file}: acknowledged append ${record} is lost`);
    }
  }
  // Every read: a prefix of the final file, and never shorter than an earlier read by the same reader.
  const lastLen = new Map<string, number>();
  for (const op of [...history].filter((o) => o.f === 'read' && o.outcome === 'ok').sort((a, b) => a.call - b.call)) {
    count++;
    const file = String(op.args.file);
    const len = Number(op.out?.len);
    const content = Buffer.from(final.appendFiles[file] ?? '', 'latin1');
    if (len > content.length || sha256(content.subarray(0, len)) !== op.out?.sha) {
      anomalies.push(`${op.proc} read ${file} (${len} bytes at ${op.call.toFixed(0)} ms): not a prefix of the final file`);
    }
    const k = `${op.proc} ${file}`;
    const before = lastLen.get(k) ?? 0;
    // Reads by one reader do not overlap, so a later one must see at least as much.
    if (len < before) anomalies.push(`${op.proc} read ${file}: ${len} bytes after an earlier read of ${before}`);
    lastLen.set(k, Math.max(before, len));
  }
  const unknown = history.filter((o) => o.f === 'append' && o.outcome === 'unknown').length;
  return { name: 'appends', ok: anomalies.length === 0, ops: count, anomalies, unknown };
}

/* ---------- data ---------- */

export function checkData(history: CompletedOp[], final: FinalState): CheckReport {
  const anomalies: string[] = [];
  let count = 0;
  for (const op of history) {
    if (op.f !== 'put') continue;
    count++;
    const path = String(op.args.path);
    const got = final.data[path];
    if (op.outcome === 'ok' && got === undefined) anomalies.push(`${path}: acknowledged put is missing`);
    else if (got !== undefined && got !== op.args.sha && !(op.outcome === 'unknown' && String(op.args.prefixes ?? '').split(',').includes(got.slice(0, 16)))) {
      // An unknown put may have been recovered as a prefix of whole chunks (lease recovery); nothing else.
      anomalies.push(`${path}: bytes differ from what was put (${op.outcome})`);
    }
    else if (got !== undefined && op.outcome === 'fail') anomalies.push(`${path}: present though its put failed`);
  }
  if (!final.fsck.healthy) {
    const which = (final.fsck.problems ?? []).map((p) => `chunk ${p.handle} of ${p.path} ${p.status} on [${p.replicas.join(' ')}]`);
    anomalies.push(`fsck not healthy ${final.fsck.waitedMs} ms after the faults healed: missing ${final.fsck.missing}, under-replicated ${final.fsck.underReplicated}, corrupt ${final.fsck.corrupt}${which.length ? ` (${which.join('; ')})` : ''}`);
  }
  const unknown = history.filter((o) => o.f === 'put' && o.outcome === 'unknown').length;
  return { name: 'data + fsck', ok: anomalies.length === 0, ops: count, anomalies, unknown };
}
