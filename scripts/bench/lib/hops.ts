import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * Reads the hop files every traced process wrote (@dfs/telemetry hop-trace.ts: lines
 * `<hop> <key> <ns>`, one file per pid) and takes one Raft command apart: for each client
 * call, its window [send, receive] is matched with the leader's and the first follower's
 * hops (by Raft index, one command at a time), and each gap between consecutive hops is a
 * row. Times are CLOCK_MONOTONIC nanoseconds, one clock for all processes.
 */
interface Hop {
  readonly hop: string;
  readonly key: number;
  readonly ns: bigint;
}

export interface ClientCall {
  readonly send: bigint;
  readonly recv: bigint;
}

function readHops(dir: string): Map<string, Hop[]> {
  const byProcess = new Map<string, Hop[]>();
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.hops')) continue;
    const hops: Hop[] = [];
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      const [hop, key, ns] = line.split(' ');
      if (hop && key && ns) hops.push({ hop, key: Number(key), ns: BigInt(ns) });
    }
    hops.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
    byProcess.set(f, hops);
  }
  return byProcess;
}

/** The first hop named `hop` in [from, to] (with key ≥ `key` when given). */
function first(hops: readonly Hop[], hop: string, from: bigint, to: bigint, key?: number): Hop | undefined {
  return hops.find((h) => h.hop === hop && h.ns >= from && h.ns <= to && (key === undefined || h.key >= key));
}

/** Steps of one Raft command, in the order they happen; [name, process, hop]. */
const STEPS: ReadonlyArray<readonly [string, 'client' | 'leader' | 'follower', string]> = [
  ['client sends', 'client', 'send'],
  ['leader: RPC handler entered', 'leader', 'rpc.enter'],
  ['leader: caller known (auth, bounds)', 'leader', 'rpc.handler'],
  ['leader: proposed', 'leader', 'raft.propose'],
  ['leader: Ready taken', 'leader', 'raft.ready'],
  ['leader: AppendEntries handed to gRPC', 'leader', 'raft.append-sent'],
  ['follower: AppendEntries received', 'follower', 'raft.recv-append'],
  ['follower: Ready taken', 'follower', 'raft.ready'],
  ['follower: entry fsynced', 'follower', 'raft.fsynced'],
  ['follower: ack handed to gRPC', 'follower', 'raft.ack-sent'],
  ['leader: ack received', 'leader', 'raft.recv-ack'],
  ['leader: apply starts (committed)', 'leader', 'raft.apply'],
  ['leader: applied (SQLite)', 'leader', 'raft.applied'],
  ['leader: handler returned', 'leader', 'rpc.result'],
  ['leader: answer handed to gRPC', 'leader', 'rpc.answered'],
  ['client receives', 'client', 'recv'],
];

export interface Breakdown {
  /** One row per step: the median gap from the previous step, and from the client's send. */
  readonly rows: Array<{ step: string; gapMs: number; sinceSendMs: number }>;
  /** The leader's own fsync (append-sent → fsynced), which overlaps the follower's steps. */
  readonly leaderFsyncMs: number;
  /** Commands whose AppendEntries reached the follower before the leader's fsync returned (the overlap really happened). */
  readonly overlapped: number;
  readonly matched: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
};
const ms = (a: bigint, b: bigint): number => Number(b - a) / 1e6;

export function raftBreakdown(dir: string, calls: readonly ClientCall[]): Breakdown {
  const procs = [...readHops(dir).values()];
  const gaps: number[][] = STEPS.map(() => []);
  const since: number[][] = STEPS.map(() => []);
  const leaderFsync: number[] = [];
  let matched = 0;
  let overlapped = 0;
  for (const c of calls) {
    const leader = procs.find((p) => first(p, 'rpc.enter', c.send, c.recv) && first(p, 'raft.propose', c.send, c.recv));
    if (!leader) continue;
    const index = first(leader, 'raft.propose', c.send, c.recv)!.key;
    // The follower whose acknowledgement the leader received first made the quorum.
    const ack = first(leader, 'raft.recv-ack', c.send, c.recv, index);
    const follower = procs.filter((p) => p !== leader).map((p) => ({ p, sent: first(p, 'raft.ack-sent', c.send, c.recv, index) }))
      .filter((x) => x.sent && ack && x.sent.ns <= ack.ns).sort((a, b) => (a.sent!.ns < b.sent!.ns ? -1 : 1))[0]?.p;
    if (!follower) continue;
    const at: bigint[] = [];
    for (const [, who, hop] of STEPS) {
      const t = who === 'client' ? (hop === 'send' ? c.send : c.recv)
        : first(who === 'leader' ? leader : follower, hop, at[at.length - 1] ?? c.send, c.recv, hop.startsWith('raft.') ? index : undefined)?.ns;
      if (t === undefined) break;
      at.push(t);
    }
    if (at.length !== STEPS.length) continue;
    matched++;
    at.forEach((t, i) => {
      gaps[i]!.push(i === 0 ? 0 : ms(at[i - 1]!, t));
      since[i]!.push(ms(c.send, t));
    });
    const sent = first(leader, 'raft.append-sent', c.send, c.recv, index);
    const synced = first(leader, 'raft.fsynced', c.send, c.recv, index);
    if (sent && synced) leaderFsync.push(ms(sent.ns, synced.ns));
    if (synced && at[6]! < synced.ns) overlapped++;
  }
  return {
    rows: STEPS.map(([step], i) => ({ step, gapMs: median(gaps[i]!), sinceSendMs: median(since[i]!) })),
    leaderFsyncMs: median(leaderFsync),
    overlapped,
    matched,
  };
}
