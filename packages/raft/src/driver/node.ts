import { existsSync, mkdirSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { DfsError, ErrorCode } from '@dfs/proto';
import type { Security } from '@dfs/security';
import { LeaderLease, leaseDurationMs } from '../core/lease.js';
import { RaftError } from '../core/raft.js';
import { REJECTIONS, checkInbound, type Refusal, type Rejection } from './inbound.js';
import { isEarlySendable, RawNode, type Ready } from '../core/rawnode.js';
import { EntryType, MessageType, type ConfChange, type Entry, type Member, type Message, type SnapshotMeta } from '../core/types.js';
import { SqliteStorage } from '../storage/sqlite.js';
import type { RaftStorage } from '../storage/storage.js';
import { GrpcTransport } from '../transport/grpc.js';
import type { Transport } from '../transport/transport.js';
import type { StateMachine } from './state-machine.js';
import { noopLogger, type Logger } from '../logger.js';

/*
 * RaftNode: the driver that connects the pure core, SQLite storage, the gRPC transport
 * and the application's state machine, running the Ready loop of README.md on Node's
 * event loop. Everything that arrives (ticks, messages, proposals) is fed to the core
 * synchronously; the loop runs on the next turn, so all proposals of one turn share one
 * Ready and one fsync (group commit).
 */
export interface RaftNodeOptions {
  id: string;
  address: string;
  /** The initial voters, including this node; used only when `dir` holds no state yet. */
  peers: Array<{ id: string; address: string }>;
  /**
   * Joining a running group: `peers` are its members and do not include this node,
   * which starts as a non-voter that never campaigns and waits for the leader's
   * addMember. It learns the real configuration from the leader's snapshot or from the
   * first configuration change it applies (each carries the whole configuration).
   */
  join?: boolean;
  dir: string;
  stateMachine: StateMachine;
  /** Created by the master; RaftService is added to it before it binds. */
  server: grpc.Server;
  /** Credentials of the streams to peers (mutual TLS, or plaintext with --insecure); the server's are the master's. */
  security: Security;
  logger?: Logger;
  /** Default 100 ms. */
  tickMs?: number;
  /** Default 10 ticks (the real timeout is random in [10, 20) ticks). */
  electionTicks?: number;
  /** Default 1 tick. */
  heartbeatTicks?: number;
  /** Snapshot after this many applied entries. Default 10,000. */
  snapshotEvery?: number;
  /**
   * Called when the loop cannot go on (storage, state machine or a broken invariant), after
   * the error is logged. Default: exit the process, so a supervisor sees a dead node instead
   * of a live process with a dead loop.
   */
  onFatal?: (err: unknown) => void;
  /** linearizableRead() uses a leader lease when it holds one (core/lease.ts). Default true. */
  leaseReads?: boolean;
  /** The clock-drift bound the lease assumes (0.1 = follower clocks up to 10% fast). Default 0.1. */
  maxClockDrift?: number;
  /** Marks each hop of a replicated entry (`make trace-small`; @dfs/telemetry's markHop). Default: none. */
  hop?: (hop: string, index: number) => void;
}

/** Exit status of a node whose Raft loop failed (EX_SOFTWARE). */
export const FATAL_EXIT_CODE = 70;

export type NodeRole = 'leader' | 'follower' | 'candidate' | 'learner' | 'pre-candidate';

export interface NodeStatus {
  id: string;
  role: NodeRole;
  term: number;
  leaderId?: string;
  commitIndex: number;
  appliedIndex: number;
  members: Array<{ id: string; address: string; voter: boolean; matchIndex?: number; lastHeardMs?: number }>;
}

interface PendingProposal {
  readonly term: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
}

interface Waiter {
  readonly check: () => boolean;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  readonly deadline: number;
  readonly what: string;
}

export class RaftNode {
  private readonly opts: Required<Omit<RaftNodeOptions, 'logger'>> & { logger: Logger };
  private readonly log: Logger;
  private readonly storage: RaftStorage;
  private readonly transport: Transport;
  private readonly snapDir: string;
  private raw: RawNode | undefined;
  private readonly sm: StateMachine;
  private snapshotFile = '';
  private snapshotIndex = 0;

  private started = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private running = false;
  private inbox: Message[] = [];
  private pendingTicks = 0;
  private readonly incomingSnapshots = new Map<string, string>();
  /** When a message from each peer last arrived (Date.now()): status() shows unreachable peers. */
  private readonly lastHeard = new Map<string, number>();
  private readonly knownPeers = new Set<string>();
  /** Messages refused at the gate, by reason (shown in /metrics). */
  private readonly refused = new Map<Rejection, number>(REJECTIONS.map((r) => [r, 0]));
  /** Last time a refusal was logged: a stranger must not be able to flood the log. */
  private lastRefusalLog = 0;

  private readonly proposals = new Map<number, PendingProposal>();
  /** ReadIndex requests by context; `sentAt` (monotonic ms) and `term` renew the lease when confirmed. */
  private readonly reads = new Map<number, { resolve: () => void; reject: (e: Error) => void; sentAt: number; term: number }>();
  private readonly lease: LeaderLease;
  private renewing = false;
  private waitingReads: Array<{ index: number; resolve: () => void }> = [];
  private nextContext = 1;
  private waiters: Waiter[] = [];
  private readonly leaderCallbacks: Array<(leaderId: string | undefined, term: number) => void> = [];
  private lostLeadershipAt = 0;
  private snapshotting = false;
  private leaderId = '';
  /** The hard state as last written to storage. */
  private persistedHard: { term: number; vote: string } | undefined;

  private constructor(opts: RaftNodeOptions) {
    this.opts = {
      tickMs: 100,
      electionTicks: 10,
      heartbeatTicks: 1,
      snapshotEvery: 10_000,
      join: false,
      onFatal: () => process.exit(FATAL_EXIT_CODE),
      leaseReads: true,
      maxClockDrift: 0.1,
      hop: () => undefined,
      ...opts,
      logger: opts.logger ?? noopLogger,
    };
    this.log = this.opts.logger;
    this.lease = new LeaderLease(leaseDurationMs({ electionTicks: this.opts.electionTicks, tickMs: this.opts.tickMs, maxDrift: this.opts.maxClockDrift }));
    this.sm = opts.stateMachine;
    mkdirSync(opts.dir, { recursive: true });
    this.snapDir = join(opts.dir, 'snapshots');
    mkdirSync(this.snapDir, { recursive: true });
    this.storage = new SqliteStorage(join(opts.dir, 'raft.db'));
    this.transport = new GrpcTransport({
      id: opts.id,
      server: opts.server,
      snapshotDir: this.snapDir,
      logger: this.log,
      security: opts.security,
      handler: {
        onMessage: (m, peer) => this.enqueue(m, peer),
        admitSnapshot: (m, peer) => this.admit(m, peer)?.detail,
        onRefused: (reason, detail) => this.refuse(reason, detail),
        onSnapshot: (m, path) => {
          if (this.enqueue(m) || !m.snapshot) {
            void fsp.rm(path, { force: true }).catch(() => undefined);
            return;
          }
          this.incomingSnapshots.set(`${m.snapshot.term}-${m.snapshot.index}`, path);
        },
        onSnapshotSent: (to, ok) => {
          this.raw?.reportSnapshot(to, ok);
          this.schedule();
        },
        onUnreachable: (to) => {
          this.log.debug({ peer: to }, 'raft peer unreachable');
          this.raw?.reportUnreachable(to);
          this.schedule();
        },
      },
    });
  }

  /**
   * Bootstraps a new group's storage in `dir` from a state machine image (a metadata backup):
   * the log starts as a snapshot at (`term`, `index`) whose configuration is `peers`, so every
   * member seeded from the same image holds the same log base, new entries follow `index`,
   * and a member added later gets the image by InstallSnapshot. Refuses a `dir` that holds
   * Raft state. The state machine must already hold the image at `index`.
   */
  static async seedFromSnapshot(dir: string, peers: ReadonlyArray<{ id: string; address: string }>, index: number, term: number, image: string): Promise<void> {
    const snapDir = join(dir, 'snapshots');
    if (existsSync(join(dir, 'raft.db'))) throw new DfsError(ErrorCode.ALREADY_EXISTS, `${dir} already holds Raft state`);
    mkdirSync(snapDir, { recursive: true });
    const file = `snap-${term}-${index}.db`;
    await fsp.copyFile(image, join(snapDir, file));
    await fsyncFile(join(snapDir, file));
    await fsyncDir(snapDir);
    const conf: Member[] = peers.map((p) => ({ id: p.id, address: p.address, voter: true })).sort((a, b) => (a.id < b.id ? -1 : 1));
    const storage = new SqliteStorage(join(dir, 'raft.db'));
    try {
      storage.load(conf);
      storage.installSnapshot({ index, term, conf }, file);
    } finally {
      storage.close();
    }
  }

  /** Builds the node and registers RaftService on `opts.server`; call start() once the server is bound. */
  static create(opts: RaftNodeOptions): RaftNode {
    if (!opts.join && !opts.peers.some((p) => p.id === opts.id)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `peers must include this node (${opts.id})`);
    return new RaftNode(opts);
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const initialConf: Member[] = this.opts.peers.filter((p) => !this.opts.join || p.id !== this.opts.id).map((p) => ({ id: p.id, address: p.address, voter: true })).sort((a, b) => (a.id < b.id ? -1 : 1));
    const st = this.storage.load(initialConf);
    this.snapshotFile = st.snapshotFile;
    this.snapshotIndex = st.snapshot.index;
    this.persistedHard = st.hardState;
    let applied = this.sm.appliedIndex();
    if (applied < st.snapshot.index) {
      // We crashed after recording a snapshot and before the state machine took it in.
      if (!st.snapshotFile) throw new Error(`state machine at ${applied} is behind snapshot ${st.snapshot.index}, and there is no snapshot file`);
      await this.sm.restore(join(this.snapDir, st.snapshotFile), st.snapshot.index);
      applied = st.snapshot.index;
    }
    let hardState = st.hardState;
    if (applied > hardState.commit) {
      // The commit index is stored lazily (storage/sqlite.ts): what was applied was committed,
      // as long as this log still holds it.
      const last = st.entries.length > 0 ? st.entries[st.entries.length - 1]!.index : st.offset.index;
      if (applied > last) throw new Error(`state machine applied ${applied} beyond the stored commit index ${st.hardState.commit} and the log's last entry ${last}`);
      hardState = { ...hardState, commit: applied };
    }
    this.raw = new RawNode(
      {
        id: this.opts.id,
        electionTicks: this.opts.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        random: Math.random,
        maxInflight: 512,
        maxMsgBytes: 1 << 20,
        leaseReads: this.opts.leaseReads,
      },
      { hardState, snapshot: st.snapshot, offset: st.offset, entries: st.entries, applied },
    );
    this.syncPeers(this.raw);
    this.timer = setInterval(() => {
      this.pendingTicks++;
      this.renewLease();
      this.schedule();
    }, this.opts.tickMs);
    this.log.info({ id: this.opts.id, term: st.hardState.term, commit: st.hardState.commit, applied, snapshot: st.snapshot.index }, 'raft node started');
    this.schedule();
  }

  // ---- public API ----------------------------------------------------------------------

  propose(data: Uint8Array): Promise<unknown> {
    const raw = this.raw;
    if (!raw || this.stopped) return Promise.reject(new DfsError(ErrorCode.UNAVAILABLE, 'raft node is not running'));
    let at: { index: number; term: number };
    try {
      at = raw.propose(data);
    } catch (err) {
      return Promise.reject(this.translate(err));
    }
    this.opts.hop('propose', at.index);
    this.schedule();
    return new Promise((resolve, reject) => this.proposals.set(at.index, { term: at.term, resolve, reject }));
  }

  readIndex(): Promise<void> {
    const raw = this.raw;
    if (!raw || this.stopped) return Promise.reject(new DfsError(ErrorCode.UNAVAILABLE, 'raft node is not running'));
    const ctx = this.nextContext++;
    const sentAt = performance.now();
    if (!raw.readIndex(ctx)) return Promise.reject(this.notLeader());
    this.schedule();
    return new Promise((resolve, reject) => this.reads.set(ctx, { resolve, reject, sentAt, term: raw.raft.term }));
  }

  /**
   * Resolves once a linearizable read may run on the local state machine: at once when
   * this leader holds a lease and has applied its commit index (no network round), else
   * through readIndex().
   */
  linearizableRead(): Promise<void> {
    const raw = this.raw;
    const index = raw?.raft.leaseReadIndex();
    if (!raw || this.stopped || index === undefined || !this.lease.valid(performance.now(), raw.raft.term)) return this.readIndex();
    if (raw.raft.log.applied >= index) return Promise.resolve();
    return new Promise((resolve) => this.waitingReads.push({ index, resolve }));
  }


  /**
   * Whether this node leads and a quorum confirmed it within the leader lease, so no other
   * leader can exist right now (core/lease.ts). False after a leadership transfer began, and
   * while a stalled (e.g. SIGSTOPped) leader has not yet renewed. Without lease reads there is
   * no lease to hold: then it is isLeader().
   */
  holdsLease(): boolean {
    const raw = this.raw;
    if (!raw || this.stopped || raw.raft.role !== 'leader') return false;
    if (!this.opts.leaseReads) return true;
    return raw.raft.leaseReadIndex() !== undefined && this.lease.valid(performance.now(), raw.raft.term);
  }

  isLeader(): boolean {
    return this.raw?.raft.role === 'leader';
  }

  leader(): { id: string; address: string } | undefined {
    const raw = this.raw;
    if (!raw || raw.raft.lead === '') return undefined;
    const m = raw.raft.conf.find((x) => x.id === raw.raft.lead);
    return m ? { id: m.id, address: m.address } : undefined;
  }

  status(): NodeStatus {
    const raw = this.raw;
    if (!raw) return { id: this.opts.id, role: 'follower', term: 0, commitIndex: 0, appliedIndex: this.sm.appliedIndex(), members: [] };
    const r = raw.raft;
    const role: NodeRole = r.role === 'leader' ? 'leader' : !r.isVoter() ? 'learner' : r.role;
    return {
      id: this.opts.id,
      role,
      term: r.term,
      leaderId: r.lead || undefined,
      commitIndex: r.log.committed,
      appliedIndex: r.log.applied,
      members: r.conf.map((m) => ({ id: m.id, address: m.address, voter: m.voter, matchIndex: r.matchIndex(m.id), lastHeardMs: this.lastHeard.get(m.id) })),
    };
  }

  onLeaderChange(cb: (leaderId: string | undefined, term: number) => void): void {
    this.leaderCallbacks.push(cb);
  }

  /** Adds `id` as a learner; resolves once the leader has promoted it to voter. */
  async addMember(id: string, address: string): Promise<void> {
    await this.changeConf({ type: 'add-learner', id, address });
    await this.waitFor(`${id} to become a voter`, 60_000, () => this.raw?.raft.conf.some((m) => m.id === id && m.voter) === true);
  }

  async removeMember(id: string): Promise<void> {
    await this.changeConf({ type: 'remove', id });
    await this.waitFor(`${id} to be removed`, 30_000, () => this.raw?.raft.conf.every((m) => m.id !== id) === true);
  }

  async transferLeadership(to?: string): Promise<void> {
    const raw = this.raw;
    if (!raw || raw.raft.role !== 'leader') throw this.notLeader();
    let target = to;
    if (!target) {
      let best = -1;
      for (const m of raw.raft.conf) {
        if (!m.voter || m.id === this.opts.id) continue;
        const match = raw.raft.matchIndex(m.id) ?? 0;
        if (match > best) {
          best = match;
          target = m.id;
        }
      }
    }
    if (!target) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'no other voter to transfer leadership to');
    if (target === this.opts.id) return;
    if (!raw.transferLeader(target)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `cannot transfer leadership to ${target}`);
    this.schedule();
    const timeout = 2 * this.opts.electionTicks * this.opts.tickMs;
    await this.waitFor(`leadership to move to ${target}`, timeout, () => this.raw?.raft.role !== 'leader' && this.raw?.raft.lead === target);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    // Let a Ready in progress finish its transaction.
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    const err = new DfsError(ErrorCode.UNAVAILABLE, 'raft node stopped');
    for (const p of this.proposals.values()) p.reject(err);
    this.proposals.clear();
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
    this.transport.close();
    this.storage.close();
  }

  // ---- the loop ------------------------------------------------------------------------

  /** Takes a message from the network if the gate lets it through; the refusal otherwise. */
  private enqueue(m: Message, authenticatedPeer?: string): Refusal | undefined {
    if (this.stopped) return undefined;
    const refusal = this.admit(m, authenticatedPeer);
    if (refusal) return refusal;
    this.lastHeard.set(m.from, Date.now());
    if (m.type === MessageType.Append && m.entries.length > 0) this.opts.hop('recv-append', m.entries[m.entries.length - 1]!.index);
    else if (m.type === MessageType.AppendResponse && !m.reject) this.opts.hop('recv-ack', m.index);
    this.inbox.push(m);
    this.schedule();
    return undefined;
  }

  /** The gate (inbound.ts) against the current configuration (before start: the configured peers). */
  private admit(m: Message, authenticatedPeer?: string): Refusal | undefined {
    const r = this.raw?.raft;
    const conf = r?.conf ?? this.opts.peers;
    const refusal = checkInbound(m, { selfId: this.opts.id, isMember: (id) => conf.some((x) => x.id === id), term: r?.term ?? 0, leader: r?.lead ?? '' }, authenticatedPeer);
    if (refusal) this.refuse(refusal.reason, refusal.detail, m);
    return refusal;
  }

  /** Steps one admitted message into the core. */
  private stepInbound(raw: RawNode, m: Message): void {
    try {
      raw.step(m);
    } catch (err) {
      // The core checks before it changes anything: a message it cannot take is refused, and
      // the loop goes on.
      this.refuse('step-failed', err instanceof Error ? err.message : String(err), m);
    }
  }

  /** Counts (and at most once a second logs) a refused message or snapshot. */
  refuse(reason: Rejection, detail: string, m?: Pick<Message, 'from' | 'type'>): void {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
    const now = Date.now();
    if (now - this.lastRefusalLog < 1000) return;
    this.lastRefusalLog = now;
    this.log.warn({ reason, detail: detail.slice(0, 200), from: m?.from.slice(0, 64), type: m?.type }, 'raft message refused');
  }

  /** Refused messages by reason since start. */
  refusals(): Record<Rejection, number> {
    return Object.fromEntries(this.refused) as Record<Rejection, number>;
  }

  private schedule(): void {
    if (this.scheduled || this.stopped || !this.raw) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    const raw = this.raw;
    if (!raw) return;
    this.running = true;
    try {
      for (;;) {
        // 1. Feed inputs.
        for (; this.pendingTicks > 0; this.pendingTicks--) raw.tick();
        const inbox = this.inbox;
        this.inbox = [];
        for (const m of inbox) this.stepInbound(raw, m);
        if (!raw.hasReady()) break;
        // 2-7.
        await this.handleReady(raw, raw.ready());
        if (this.stopped) return;
      }
      this.checkWaiters();
      await this.maybeSnapshot(raw);
    } catch (err) {
      // A storage or state machine failure, or a broken invariant: we cannot go on safely.
      // Stopping would leave a live process with a dead loop; exit instead (onFatal).
      if (this.stopped) return;
      this.log.error({ err: err instanceof Error ? err.stack : String(err) }, 'raft loop failed; the node cannot go on');
      void this.stop();
      this.opts.onFatal(err);
    } finally {
      this.running = false;
    }
    // Work that arrived while we awaited (a snapshot, a restore) must not wait for a tick.
    if (!this.stopped && (this.inbox.length > 0 || this.pendingTicks > 0 || raw.hasReady())) this.schedule();
  }

  private async handleReady(raw: RawNode, rd: Ready): Promise<void> {
    // 3. A snapshot from the leader: record it durably, then restore the state machine.
    if (rd.snapshot) await this.installSnapshot(rd.snapshot);
    // 4. Persist entries and hard state: one transaction, one fsync. The leader's own
    // appends go out first, so its fsync overlaps the followers' (thesis 10.2.1).
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) (isEarlySendable(rd, m, this.persistedHard) ? early : late).push(m);
    const last = rd.entries.length > 0 ? rd.entries[rd.entries.length - 1]!.index : 0;
    if (last > 0) this.opts.hop('ready', last);
    if (early.length > 0) {
      this.transport.send(early);
      if (last > 0) this.opts.hop('append-sent', last);
    }
    // Awaited, not blocking: while the fsync runs on the thread pool the early appends reach
    // the wire and new proposals and messages queue up for the next Ready.
    const durable = this.storage.save(rd.hardState, rd.entries);
    durable.catch(() => undefined); // awaited below; an apply that throws first must not leave it unhandled
    // 6, early, on a leader: entries committed before this Ready's new ones were made durable
    // by an earlier Ready, so they are applied (and their proposers answered) while this
    // fsync runs, instead of waiting for entries they do not depend on. A follower applies
    // after step 5: there the leader waits for its acknowledgement, nobody for its apply.
    let toApply = rd.committedEntries;
    if (raw.raft.role === 'leader') {
      const firstNew = rd.entries.length > 0 ? rd.entries[0]!.index : Infinity;
      const split = toApply.findIndex((e) => e.index >= firstNew);
      this.apply(split < 0 ? toApply : toApply.slice(0, split));
      toApply = split < 0 ? [] : toApply.slice(split);
    }
    await durable;
    if (rd.hardState) this.persistedHard = rd.hardState;
    if (last > 0) this.opts.hop('fsynced', last);
    // 5. Send the rest, now that what they promise is durable.
    const plain: Message[] = [];
    for (const m of late) {
      if (m.type === MessageType.Snapshot) this.sendSnapshot(m);
      else plain.push(m);
    }
    if (plain.length > 0) this.transport.send(plain);
    for (const m of plain) if (m.type === MessageType.AppendResponse && !m.reject) this.opts.hop('ack-sent', m.index);
    // 6. Apply (what step 6, early, left).
    this.apply(toApply);
    for (const rs of rd.readStates) {
      const r = this.reads.get(rs.context);
      this.reads.delete(rs.context);
      if (!r) continue;
      // A quorum answered a round sent after r was asked: the lease runs from then.
      if (this.opts.leaseReads) this.lease.confirm(r.sentAt, r.term);
      this.waitingReads.push({ index: rs.index, resolve: r.resolve });
    }
    for (const ctx of rd.droppedReads) {
      const r = this.reads.get(ctx);
      this.reads.delete(ctx);
      r?.reject(this.notLeader());
    }
    // 7.
    raw.advance(rd);
    this.releaseReads(raw.raft.log.applied);
    if (rd.softState) {
      this.log.debug({ role: rd.softState.role, term: raw.raft.term }, 'raft role');
      this.leaderChanged(rd.softState.leader, raw.raft.term, rd.softState.role === 'leader');
    }
    if (rd.committedEntries.some((e) => e.type === EntryType.ConfChange)) this.syncPeers(raw);
  }

  private apply(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const last = entries[entries.length - 1]!.index;
    this.opts.hop('apply', last);
    this.applyAll(entries);
    this.opts.hop('applied', last);
  }

  private applyAll(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const already = this.sm.appliedIndex();
    const todo = entries.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0 && e.index > already);
    const results = new Map<number, unknown>();
    if (todo.length > 1 && this.sm.applyBatch) {
      const out = this.sm.applyBatch(todo.map((e) => ({ index: e.index, data: e.data })));
      todo.forEach((e, i) => results.set(e.index, out[i]));
    } else {
      for (const e of todo) results.set(e.index, this.sm.apply(e.index, e.data));
    }
    for (const e of entries) this.settle(e, results.get(e.index));
  }

  /** Answers the proposer of `e`, if it is waiting here. */
  private settle(e: Entry, result: unknown): void {
    let failed: Error | undefined;
    const p = this.proposals.get(e.index);
    if (!p) return;
    this.proposals.delete(e.index);
    if (p.term !== e.term) failed = this.notLeader('the proposal was overwritten by another leader');
    if (failed) p.reject(failed);
    else p.resolve(result);
  }

  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const key = `${meta.term}-${meta.index}`;
    const incoming = this.incomingSnapshots.get(key);
    if (!incoming) throw new Error(`snapshot ${key} is not on disk`);
    const file = `snap-${meta.term}-${meta.index}.db`;
    await fsp.rename(incoming, join(this.snapDir, file));
    await fsyncDir(this.snapDir);
    // Record first (crash after this: restart restores from the file), then restore.
    this.storage.installSnapshot(meta, file);
    await this.sm.restore(join(this.snapDir, file), meta.index);
    this.snapshotFile = file;
    this.snapshotIndex = meta.index;
    // Other received files were stale (or superseded): drop them.
    for (const [k, path] of this.incomingSnapshots) if (k !== key) await fsp.rm(path, { force: true });
    this.incomingSnapshots.clear();
    await this.removeOldSnapshots();
  }

  private sendSnapshot(m: Message): void {
    if (!this.snapshotFile || !m.snapshot || m.snapshot.index !== this.snapshotIndex) {
      this.raw?.reportSnapshot(m.to, false);
      return;
    }
    this.transport.sendSnapshot(m, join(this.snapDir, this.snapshotFile));
  }

  private async maybeSnapshot(raw: RawNode): Promise<void> {
    if (this.snapshotting || this.stopped) return;
    if (raw.raft.log.applied - this.snapshotIndex < this.opts.snapshotEvery) return;
    this.snapshotting = true;
    try {
      const tmp = join(this.snapDir, `taking-${Date.now()}.tmp`);
      const { index } = await this.sm.snapshot(tmp);
      if (this.stopped || index <= this.snapshotIndex || index > raw.raft.log.applied) {
        await fsp.rm(tmp, { force: true });
        return;
      }
      await fsyncFile(tmp);
      const meta = raw.compact(index, Math.min(this.opts.snapshotEvery, 5_000));
      const file = `snap-${meta.term}-${meta.index}.db`;
      await fsp.rename(tmp, join(this.snapDir, file));
      await fsyncDir(this.snapDir);
      this.storage.compact(meta, file, raw.raft.log.offset());
      this.snapshotFile = file;
      this.snapshotIndex = meta.index;
      this.log.info({ index: meta.index, term: meta.term }, 'raft snapshot taken');
      await this.removeOldSnapshots();
    } finally {
      this.snapshotting = false;
    }
  }

  /** Keeps the current snapshot and the previous one (it may still be streaming). */
  private async removeOldSnapshots(): Promise<void> {
    const files = (await fsp.readdir(this.snapDir)).filter((f) => /^snap-\d+-\d+\.db$/.test(f));
    const byIndex = files.map((f) => ({ f, index: Number(f.split('-')[2].split('.')[0]) })).sort((a, b) => b.index - a.index);
    for (const { f } of byIndex.slice(2)) if (f !== this.snapshotFile) await fsp.rm(join(this.snapDir, f), { force: true });
  }

  private releaseReads(applied: number): void {
    if (this.waitingReads.length === 0) return;
    const still: Array<{ index: number; resolve: () => void }> = [];
    for (const w of this.waitingReads) {
      if (w.index <= applied) w.resolve();
      else still.push(w);
    }
    this.waitingReads = still;
  }

  /**
   * On each tick, a leader whose lease is past half-life asks for a read point in the
   * background; its confirmation renews the lease, so lease reads never wait for one.
   */
  private renewLease(): void {
    const raw = this.raw;
    if (!this.opts.leaseReads || this.renewing || !raw || raw.raft.leaseReadIndex() === undefined) return;
    if (this.lease.remaining(performance.now(), raw.raft.term) > this.lease.durationMs / 2) return;
    this.renewing = true;
    this.readIndex()
      .catch(() => undefined)
      .finally(() => {
        this.renewing = false;
      });
  }

  private leaderChanged(leader: string, term: number, isLeader: boolean): void {
    if (!isLeader) this.lease.revoke();
    if (!isLeader && this.lostLeadershipAt === 0) this.lostLeadershipAt = Date.now();
    if (isLeader) this.lostLeadershipAt = 0;
    if (leader === this.leaderId) return;
    this.leaderId = leader;
    this.log.info({ leader: leader || undefined, term }, 'raft leader changed');
    for (const cb of this.leaderCallbacks) {
      try {
        cb(leader || undefined, term);
      } catch (err) {
        this.log.warn({ err: String(err) }, 'leader change callback failed');
      }
    }
  }

  private syncPeers(raw: RawNode): void {
    const ids = new Set(raw.raft.conf.map((m) => m.id));
    for (const m of raw.raft.conf) {
      this.transport.setPeer(m.id, m.address);
      this.knownPeers.add(m.id);
    }
    for (const id of this.knownPeers) {
      if (!ids.has(id)) {
        this.transport.removePeer(id);
        this.knownPeers.delete(id);
      }
    }
  }

  /** Checks waiters; fails proposals whose fate a deposed leader cannot learn soon. */
  private checkWaiters(): void {
    const now = Date.now();
    if (this.waiters.length > 0) {
      const still: Waiter[] = [];
      for (const w of this.waiters) {
        if (w.check()) w.resolve();
        else if (now > w.deadline) w.reject(new DfsError(ErrorCode.UNAVAILABLE, `timed out waiting for ${w.what}`));
        else still.push(w);
      }
      this.waiters = still;
    }
    const raw = this.raw;
    if (raw && raw.raft.role !== 'leader' && this.proposals.size > 0 && this.lostLeadershipAt > 0) {
      if (now - this.lostLeadershipAt > 2 * this.opts.electionTicks * this.opts.tickMs) {
        const err = this.notLeader('leadership was lost before the proposal was committed; it may or may not be applied');
        for (const p of this.proposals.values()) p.reject(err);
        this.proposals.clear();
      }
    }
  }

  private waitFor(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ what, check, resolve, reject, deadline: Date.now() + timeoutMs });
    });
  }

  private async changeConf(cc: ConfChange): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const raw = this.raw;
      if (!raw) throw new DfsError(ErrorCode.UNAVAILABLE, 'raft node is not running');
      try {
        raw.proposeConfChange(cc);
        this.schedule();
        return;
      } catch (err) {
        if (!(err instanceof RaftError) || err.code !== 'conf-pending' || Date.now() > deadline) throw this.translate(err);
      }
      await new Promise((r) => setTimeout(r, this.opts.tickMs));
    }
  }

  private notLeader(message?: string): DfsError {
    const l = this.leader();
    const leader = l && l.id !== this.opts.id ? l.address : undefined;
    return new DfsError(ErrorCode.NOT_LEADER, message ?? `${this.opts.id} is not the leader`, { leader });
  }

  private translate(err: unknown): Error {
    if (err instanceof RaftError) {
      switch (err.code) {
        case 'not-leader':
          return this.notLeader();
        case 'transferring':
          return this.notLeader(err.message);
        case 'conf-pending':
          return new DfsError(ErrorCode.UNAVAILABLE, err.message);
        case 'invalid':
          return new DfsError(ErrorCode.INVALID_ARGUMENT, err.message);
      }
    }
    return err instanceof Error ? err : new Error(String(err));
  }
}

async function fsyncFile(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function fsyncDir(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
