import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DfsClient, resolveSecurity } from '@dfs/client';
import { DfsError, ErrorCode } from '@dfs/proto';
import { HistoryWriter, type HistoryEvent } from './history.js';
import { Prng } from '@dfs/testkit';

/*
 * The nemesis workloads, run inside the client host (`ip netns exec <client ns> node workload.js`):
 *
 *   run    --masters L --seed S --seconds N --dir D   creates the directories and append files,
 *                                                      prints "started", then clients work for N
 *                                                      seconds, writing D/history.jsonl
 *   verify --masters L --dir D --timeout N             after the faults heal: reads back the append
 *                                                      files and every put, waits for fsck healthy,
 *                                                      writes D/final.json
 *   both take --root R: every path under R (runs sharing a cluster), recorded without it
 *
 * Outcomes: ok, fail (certainly did nothing: LEASE_HELD) or unknown; a create answered
 * ALREADY_EXISTS is ok with that answer (nothing created, the path existed). Renames and
 * deletes are retried with their op id until the answer is definite (untilDefinite).
 *
 * Workloads (each logical client has a DfsClient, so a master pool, of its own):
 *   metadata: five clients create, overwrite, rename (within a pair), delete and stat ten paths
 *             /meta/g{0..4}/{a,b}; a file's size names the write that made it.
 *   appends:  three clients append unique, self-checking records to /ap/f{0,1,2}; two read whole files.
 *   data:     one client puts blobs of random bytes under /data; their SHA-256 is recorded at invoke.
 */

export const META_GROUPS = 5;
export const APPEND_FILES = 3;
export const CHUNK_SIZE = 64 * 1024;

/**
 * The directory every path of this run lives under (`--root`, default /): runs that share a
 * cluster do not see each other's files. Histories and the final state record paths without it.
 */
let root = '';

function at(path: string): string {
  return root + path;
}

export function metaPath(group: number, which: 'a' | 'b'): string {
  return `/meta/g${group}/${which}`;
}

export function appendRecord(proc: string, seq: number): string {
  const body = `${proc}.${seq}`;
  return `R${body}.${createHash('sha256').update(body).digest('hex').slice(0, 16)}\n`;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function code(err: unknown): ErrorCode | undefined {
  return err instanceof DfsError ? err.code : undefined;
}

/** Errors after which the operation certainly did not happen, or whose answer is a result. */
function definite(err: unknown, ...codes: ErrorCode[]): boolean {
  const c = code(err);
  return c !== undefined && codes.includes(c);
}

const unknown = (err: unknown): { outcome: 'unknown'; out: HistoryEvent['out'] } => ({ outcome: 'unknown', out: { err: describe(err) } });

/** LEASE_HELD: another client holds the file's writer lease; the operation did nothing (a definite failure). */
function leaseHeld(err: unknown): { outcome: 'fail'; out: HistoryEvent['out'] } | undefined {
  return definite(err, ErrorCode.LEASE_HELD) ? { outcome: 'fail', out: { err: 'LEASE_HELD' } } : undefined;
}

/** How long a one-call mutation is retried, with its op id, before its outcome is left unknown. */
const RESOLVE_MS = 60_000;

/** Answers that say nothing about whether a call happened: a lost answer, no leader reachable. */
function inDoubt(err: unknown): boolean {
  const c = code(err);
  return c === undefined || c === ErrorCode.UNAVAILABLE || c === ErrorCode.DEADLINE_EXCEEDED || c === ErrorCode.CANCELLED || c === ErrorCode.NOT_LEADER;
}

/**
 * A one-call mutation (rename, delete) retried with the same op id until the answer is definite,
 * as a client retries a call whose answer it lost: the master's retry cache answers a retry
 * with the first outcome, so the operation took effect at most once, between the first call and
 * the definite answer. Far fewer unknown outcomes keep the linearizability search small.
 */
async function untilDefinite<T>(call: (opId: string) => Promise<T>): Promise<T> {
  const opId = randomUUID();
  const giveUpAt = Date.now() + RESOLVE_MS;
  for (;;) {
    try {
      return await call(opId);
    } catch (err) {
      if (!inDoubt(err) || Date.now() > giveUpAt) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function describe(err: unknown): string {
  return err instanceof DfsError ? `${err.codeName}: ${err.message}`.slice(0, 200) : String(err).slice(0, 200);
}

/** DFS_NEMESIS_INLINE=1: the clients put small files inline (the opt-in of packages/client/README.md). */
const INLINE = process.env.DFS_NEMESIS_INLINE === '1';

function newClient(masters: string[]): DfsClient {
  return new DfsClient({ masters, security: resolveSecurity().security, callTimeoutMs: 2000, retryWindowMs: 4000, inlineSmallFiles: INLINE });
}

function opSignal(): AbortSignal {
  return AbortSignal.timeout(15_000);
}

async function metadataClient(proc: string, masters: string[], prng: Prng, h: HistoryWriter, until: number, values: { next: number }): Promise<void> {
  const c = newClient(masters);
  try {
    while (Date.now() < until) {
      const g = prng.int(META_GROUPS);
      const which = prng.chance(0.5) ? 'a' : 'b';
      const path = metaPath(g, which);
      const key = `g${g}`;
      const roll = prng.next();
      if (roll < 0.2) {
        const v = values.next++;
        await h.run(proc, 'create', { key, p: which, v }, () => c.put(new Uint8Array(v), at(path), { overwrite: false, signal: opSignal() }), (err) =>
          // Both definite: CreateFile and CompleteFile carry op ids, so a retry is answered with
          // the first result, never with ALREADY_EXISTS for the caller's own file; LEASE_HELD is
          // another client's create in progress, and nothing was done.
          definite(err, ErrorCode.ALREADY_EXISTS) ? { outcome: 'ok', out: { err: 'ALREADY_EXISTS' } } : leaseHeld(err) ?? unknown(err));
      } else if (roll < 0.4) {
        const v = values.next++;
        await h.run(proc, 'overwrite', { key, p: which, v }, () => c.put(new Uint8Array(v), at(path), { overwrite: true, signal: opSignal() }), (err) =>
          leaseHeld(err) ?? unknown(err));
      } else if (roll < 0.55) {
        const dst = which === 'a' ? 'b' : 'a';
        const overwrite = prng.chance(0.5);
        await h.run(proc, 'rename', { key, p: which, dst, overwrite }, () => untilDefinite((opId) => c.mv(at(path), at(metaPath(g, dst)), { overwrite, opId, signal: opSignal() })), (err) =>
          definite(err, ErrorCode.NOT_FOUND, ErrorCode.ALREADY_EXISTS) ? { outcome: 'ok', out: { err: ErrorCode[code(err)!]! } } : unknown(err));
      } else if (roll < 0.7) {
        await h.run(proc, 'delete', { key, p: which }, () => untilDefinite((opId) => c.rm(at(path), { skipTrash: true, opId, signal: opSignal() })), (err) =>
          definite(err, ErrorCode.NOT_FOUND) ? { outcome: 'ok', out: { err: 'NOT_FOUND' } } : unknown(err));
      } else {
        await h.run(proc, 'stat', { key, p: which }, () => c.stat(at(path), { signal: opSignal() }), (err) =>
          definite(err, ErrorCode.NOT_FOUND) ? { outcome: 'ok', out: { size: null } } : unknown(err),
          (st) => ({ size: Number(st.size) }));
      }
    }
  } finally {
    c.close();
  }
}

async function appender(proc: string, masters: string[], prng: Prng, h: HistoryWriter, until: number): Promise<void> {
  const c = newClient(masters);
  let seq = 0;
  try {
    while (Date.now() < until) {
      const file = `/ap/f${prng.int(APPEND_FILES)}`;
      const record = appendRecord(proc, seq++);
      await h.run(proc, 'append', { file, record: record.trimEnd() }, () => c.append(Buffer.from(record), at(file), { signal: opSignal() }), (err) =>
        // One writer per file: LEASE_HELD while another appends, and this append did nothing
        // (a retry of this client's own OpenAppend or CompleteFile never answers LEASE_HELD).
        leaseHeld(err) ?? unknown(err));
      await new Promise((r) => setTimeout(r, prng.int(50)));
    }
  } finally {
    c.close();
  }
}

async function reader(proc: string, masters: string[], prng: Prng, h: HistoryWriter, until: number): Promise<void> {
  const c = newClient(masters);
  try {
    while (Date.now() < until) {
      const file = `/ap/f${prng.int(APPEND_FILES)}`;
      await h.run(proc, 'read', { file }, () => c.readFile(at(file), { signal: opSignal() }), unknown, (buf) => ({ len: buf.length, sha: sha256(buf) }));
      await new Promise((r) => setTimeout(r, 50 + prng.int(100)));
    }
  } finally {
    c.close();
  }
}

async function putter(proc: string, masters: string[], prng: Prng, h: HistoryWriter, until: number): Promise<void> {
  const c = newClient(masters);
  let n = 0;
  try {
    while (Date.now() < until) {
      const size = 1 + prng.int(4 * CHUNK_SIZE);
      const data = randomBytes(size);
      const path = `/data/${proc}-${n++}`;
      // A put abandoned mid-way is recovered, after its lease expires, as a prefix of whole
      // chunks (RecoverLease, as HDFS lease recovery): those prefixes are acceptable for an unknown outcome.
      const prefixes = Array.from({ length: Math.ceil(size / CHUNK_SIZE) }, (_, k) => sha256(data.subarray(0, k * CHUNK_SIZE)).slice(0, 16)).join(',');
      await h.run(proc, 'put', { path, size, sha: sha256(data), prefixes }, () => c.put(data, at(path), { signal: opSignal() }), unknown);
    }
  } finally {
    c.close();
  }
}

/** Creates the directories and the append files before the history starts (retried through start-up hiccups). */
async function setup(masters: string[]): Promise<void> {
  const c = newClient(masters);
  try {
    const deadline = Date.now() + 120_000; // a loaded machine, a cluster that just healed
    for (;;) {
      try {
        for (let g = 0; g < META_GROUPS; g++) await c.mkdir(at(`/meta/g${g}`), { parents: true });
        await c.mkdir(at('/data'), { parents: true });
        await c.mkdir(at('/ap'), { parents: true });
        for (let f = 0; f < APPEND_FILES; f++) {
          if (!(await c.tryStat(at(`/ap/f${f}`)))) await c.put(new Uint8Array(0), at(`/ap/f${f}`), { overwrite: true });
        }
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    c.close();
  }
}

/** Sets up, prints "started" (the faults may begin), then runs the clients for `seconds`. */
export async function runWorkload(masters: string[], seed: number, seconds: number, dir: string): Promise<void> {
  await setup(masters);
  process.stdout.write('started\n');
  mkdirSync(dir, { recursive: true });
  const h = new HistoryWriter(join(dir, 'history.jsonl'));
  const prng = new Prng(seed);
  const until = Date.now() + seconds * 1000;
  const values = { next: 1 };
  const tasks: Array<Promise<void>> = [];
  for (let i = 0; i < 5; i++) tasks.push(metadataClient(`meta${i}`, masters, prng.fork(), h, until, values));
  for (let i = 0; i < 3; i++) tasks.push(appender(`app${i}`, masters, prng.fork(), h, until));
  for (let i = 0; i < 2; i++) tasks.push(reader(`read${i}`, masters, prng.fork(), h, until));
  tasks.push(putter('put0', masters, prng.fork(), h, until));
  await Promise.all(tasks);
}

export interface FinalState {
  appendFiles: Record<string, string>;
  /** Every path under /data with its SHA-256. */
  data: Record<string, string>;
  /** Every metadata path's size (null = absent). */
  meta: Record<string, number | null>;
  fsck: { healthy: boolean; missing: number; underReplicated: number; corrupt: number; waitedMs: number; problems?: FsckProblem[]; replicationQueue?: number; replicationInflight?: number };
}

/** One chunk fsck found wanting, as a failed run keeps it (which chunk, where its replicas are). */
export interface FsckProblem {
  path: string;
  handle: number;
  status: string;
  liveReplicas: number;
  replicas: string[];
  corruptReplicas: string[];
}

/** Reads everything back once the faults have healed; fsck must become healthy within the timeout. */
export async function verify(masters: string[], dir: string, timeoutSec: number): Promise<FinalState> {
  // fsck is an admin RPC: the admin's credentials (DFS_ADMIN_TLS_DIR).
  const c = new DfsClient({ masters, security: resolveSecurity({ role: 'admin' }).security, callTimeoutMs: 5000, retryWindowMs: 30_000 });
  const started = Date.now();
  try {
    const final: FinalState = { appendFiles: {}, data: {}, meta: {}, fsck: { healthy: false, missing: 0, underReplicated: 0, corrupt: 0, waitedMs: 0 } };
    for (;;) {
      // Every page of this run's tree (one page is a bounded slice of it: 50 ms of the master's time).
      const r = await c.fsck(at('') || '/', { maxProblems: 10 });
      final.fsck = { healthy: r.healthy, missing: Number(r.missing), underReplicated: Number(r.underReplicated), corrupt: Number(r.corrupt), waitedMs: Date.now() - started };
      if (!r.healthy) {
        // A failed run names its chunks: the master logs say what happened to each handle.
        final.fsck.problems = r.problems.map((p) => ({ path: p.path, handle: p.handle, status: p.status, liveReplicas: p.liveReplicas, replicas: p.replicas, corruptReplicas: p.corruptReplicas }));
        final.fsck.replicationQueue = Number(r.replicationQueue);
        final.fsck.replicationInflight = Number(r.replicationInflight);
      }
      if (r.healthy) break;
      if (Date.now() - started > timeoutSec * 1000) {
        process.stderr.write(`workload verify: fsck not healthy after ${timeoutSec} s: ${JSON.stringify(r.problems)}\n`);
        break;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
    for (let f = 0; f < APPEND_FILES; f++) final.appendFiles[`/ap/f${f}`] = (await c.readFile(at(`/ap/f${f}`))).toString('latin1');
    for await (const st of c.list(at('/data'))) {
      const path = `/data/${st.name}`;
      final.data[path] = sha256(await c.readFile(at(path)));
    }
    for (let g = 0; g < META_GROUPS; g++) {
      for (const w of ['a', 'b'] as const) {
        const st = await c.tryStat(at(metaPath(g, w)));
        final.meta[metaPath(g, w)] = st ? Number(st.size) : null;
      }
    }
    writeFileSync(join(dir, 'final.json'), JSON.stringify(final));
    return final;
  } finally {
    c.close();
  }
}

function arg(argv: string[], name: string): string {
  const i = argv.indexOf(`--${name}`);
  if (i < 0 || !argv[i + 1]) throw new Error(`workload: --${name} is required`);
  return argv[i + 1]!;
}

if (require.main === module) {
  const [mode, ...rest] = process.argv.slice(2);
  const masters = arg(rest, 'masters').split(',');
  const dir = arg(rest, 'dir');
  if (rest.includes('--root')) root = arg(rest, 'root').replace(/\/+$/, '');
  const job = mode === 'run'
    ? runWorkload(masters, Number(arg(rest, 'seed')), Number(arg(rest, 'seconds')), dir)
    : mode === 'verify'
      ? verify(masters, dir, Number(arg(rest, 'timeout'))).then(() => undefined)
      : Promise.reject(new Error(`workload: unknown mode ${mode}`));
  job.then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`workload ${mode}: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
