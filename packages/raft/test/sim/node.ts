import { EntryType, isEarlySendable, LeaderLease, leaseDurationMs, MessageType, RawNode, RaftError, type Entry, type Message, type SnapshotMeta } from '../../src/index.js';
import type { VirtualClock } from './clock.js';
import type { Invariants, NodeView } from './invariants.js';
import type { Envelope, SimNetwork } from './network.js';
import type { Prng } from '@dfs/testkit';
import { SimStorage } from './storage.js';

/*
 * One simulated server: a RawNode driven through the Ready/advance loop exactly as
 * the real driver does it, over SimStorage. A crash throws away everything except
 * the storage, i.e. everything that was not fsynced.
 */
export interface SimStateMachine {
  apply(index: number, data: Uint8Array): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

export interface SimNodeOptions {
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Take a snapshot every this many applied entries (0 = never). */
  readonly snapshotEvery: number;
  readonly maxMsgBytes: number;
  /** Serve linearizableRead() from a leader lease (core/lease.ts) that assumes this drift bound. */
  readonly lease?: { readonly maxDrift: number };
  /** Each node's ticks run up to this much faster than virtual time (0.05 = 5%; each node its own rate): clock drift. */
  readonly fastClock?: number;
}

type Callback = (err: Error | undefined, result?: unknown) => void;

export class SimNode implements NodeView {
  alive = false;
  incarnation = 0;
  raw: RawNode | undefined;
  sm: SimStateMachine;
  /** What the state machine has applied. */
  appliedIndex = 0;
  private incoming = new Map<string, Uint8Array>();
  private proposals = new Map<number, { term: number; cb: Callback }>();
  private reads = new Map<number, { cb: Callback; sentAt: number; term: number }>();
  private readonly lease: LeaderLease;
  private renewing = false;
  /** Reads served from the lease (no ReadIndex round). */
  leaseReadsServed = 0;
  /** Virtual ms between this node's ticks (its clock rate; tests may change it). */
  tickEvery: number;
  private waitingReads: Array<{ index: number; cb: Callback }> = [];
  private nextContext = 1;
  /** Asked before each fsync: crash now, after the early sends, losing this Ready? */
  crashBeforeFsync: () => boolean = () => false;
  /** Called after each Ready with the new soft state when it changed. */
  onSoftState: (leader: string, role: string) => void = () => {};

  constructor(
    readonly id: string,
    readonly storage: SimStorage,
    private readonly makeSm: () => SimStateMachine,
    private readonly opts: SimNodeOptions,
    private readonly clock: VirtualClock,
    private readonly net: SimNetwork,
    private readonly inv: Invariants,
    private readonly rng: Prng,
  ) {
    this.sm = makeSm();
    this.tickEvery = opts.fastClock ? opts.tickMs / (1 + opts.fastClock * rng.next()) : opts.tickMs;
    this.lease = new LeaderLease(opts.lease ? leaseDurationMs({ electionTicks: opts.electionTicks, tickMs: opts.tickMs, maxDrift: opts.lease.maxDrift }) : 0);
  }

  get role(): string {
    return this.raw ? this.raw.raft.role : 'down';
  }
  get term(): number {
    return this.raw ? this.raw.raft.term : this.storage.hardState.term;
  }
  get commit(): number {
    return this.raw ? this.raw.raft.log.committed : 0;
  }
  hashAt(index: number): string | undefined {
    return this.storage.hashAt(index);
  }
  snapshotIndex(): number {
    return this.storage.snapshot.index;
  }
  isLeader(): boolean {
    return this.alive && this.raw !== undefined && this.raw.raft.role === 'leader';
  }

  start(): void {
    if (this.alive) return;
    this.alive = true;
    this.incarnation++;
    this.sm = this.makeSm();
    if (this.storage.snapshot.index > 0) this.sm.restore(this.storage.snapshotData.sm);
    this.appliedIndex = this.storage.snapshot.index;
    this.raw = new RawNode(
      {
        id: this.id,
        electionTicks: this.opts.electionTicks,
        heartbeatTicks: this.opts.heartbeatTicks,
        random: () => this.rng.next(),
        preVote: this.opts.preVote,
        checkQuorum: this.opts.checkQuorum,
        maxMsgBytes: this.opts.maxMsgBytes,
        maxInflight: 64,
        leaseReads: this.opts.lease !== undefined,
      },
      this.storage.initialState(this.appliedIndex),
    );
    const inc = this.incarnation;
    const tick = (): void => {
      if (!this.alive || this.incarnation !== inc || !this.raw) return;
      this.raw.tick();
      this.renewLease();
      this.processReady();
      this.clock.schedule(this.tickEvery, tick);
    };
    this.clock.schedule(this.rng.between(1, this.opts.tickMs), tick);
  }

  /** Loses everything not on stable storage. Callbacks of clients are never called. */
  crash(): void {
    this.alive = false;
    this.raw = undefined;
    this.incoming.clear();
    this.proposals.clear();
    this.reads.clear();
    this.waitingReads = [];
    this.renewing = false;
    this.lease.revoke();
  }

  receive(env: Envelope): boolean {
    if (!this.alive || !this.raw) return false;
    const m = env.msg;
    if (m.type === MessageType.Snapshot && m.snapshot && env.snapshotData) this.incoming.set(`${m.snapshot.index}:${m.snapshot.term}`, env.snapshotData);
    this.raw.step(m);
    this.processReady();
    return true;
  }

  /** The transport could not deliver to `to` (as the gRPC transport reports a broken stream). */
  unreachable(to: string): void {
    if (!this.alive || !this.raw) return;
    this.raw.reportUnreachable(to);
    this.processReady();
  }

  snapshotDone(to: string, ok: boolean): void {
    if (!this.alive || !this.raw) return;
    this.raw.reportSnapshot(to, ok);
    this.processReady();
  }

  /** 6.5840's Start(): where the command went, or isLeader false. */
  propose(data: Uint8Array, cb?: Callback): { index: number; term: number; isLeader: boolean } {
    if (!this.alive || !this.raw) return { index: -1, term: -1, isLeader: false };
    try {
      const at = this.raw.propose(data);
      if (cb) this.proposals.set(at.index, { term: at.term, cb });
      this.processReady();
      return { ...at, isLeader: true };
    } catch (err) {
      if (err instanceof RaftError) return { index: -1, term: this.raw.raft.term, isLeader: false };
      throw err;
    }
  }

  /** ReadIndex: cb(undefined) once a linearizable read may be served here. */
  readIndex(cb: Callback): void {
    if (!this.alive || !this.raw) return cb(new Error('down'));
    const ctx = this.nextContext++;
    if (!this.raw.readIndex(ctx)) return cb(new Error('not leader'));
    this.reads.set(ctx, { cb, sentAt: this.clock.now, term: this.raw.raft.term });
    this.processReady();
  }

  /** A lease read when the lease holds (as RaftNode.linearizableRead), else ReadIndex. */
  linearizableRead(cb: Callback): void {
    const index = this.raw?.raft.leaseReadIndex();
    if (!this.alive || !this.raw || index === undefined || !this.lease.valid(this.clock.now, this.raw.raft.term)) return this.readIndex(cb);
    this.leaseReadsServed++;
    if (this.appliedIndex >= index) return cb(undefined);
    this.waitingReads.push({ index, cb });
  }

  private renewLease(): void {
    const raw = this.raw;
    if (!this.opts.lease || this.renewing || !raw || raw.raft.leaseReadIndex() === undefined) return;
    if (this.lease.remaining(this.clock.now, raw.raft.term) > this.lease.durationMs / 2) return;
    this.renewing = true;
    this.readIndex(() => {
      this.renewing = false;
    });
  }

  transferLeader(to: string): boolean {
    if (!this.raw) return false;
    const ok = this.raw.transferLeader(to);
    this.processReady();
    return ok;
  }

  proposeConfChange(type: 'add-learner' | 'promote' | 'remove', id: string): boolean {
    if (!this.raw) return false;
    try {
      this.raw.proposeConfChange({ type, id, address: type === 'add-learner' ? `sim://${id}` : undefined });
    } catch (err) {
      if (err instanceof RaftError) return false;
      throw err;
    }
    this.processReady();
    return true;
  }

  /** Steps 2-7 of the Ready loop (README.md). */
  processReady(): void {
    const raw = this.raw;
    if (!raw) return;
    while (raw.hasReady()) {
      const rd = raw.ready();
      const check = (i: number, t: number, h: string): void => this.inv.stored(this.id, i, t, h);
      // 3. an incoming snapshot: make it durable, then restore the state machine.
      if (rd.snapshot) this.installSnapshot(rd.snapshot);
      // 4. the leader's own appends may leave before its fsync; then persist entries and
      // hard state (one fsync). A crash may strike in between.
      const prev = { term: this.storage.hardState.term, vote: this.storage.hardState.vote };
      const late: Message[] = [];
      for (const m of rd.messages) {
        if (isEarlySendable(rd, m, prev)) this.send(m);
        else late.push(m);
      }
      if (this.crashBeforeFsync()) {
        this.crash();
        return;
      }
      if (rd.entries.length > 0 || rd.hardState) this.storage.syncs++;
      this.storage.append(rd.entries, check);
      if (rd.hardState) this.storage.setHardState(rd.hardState);
      // 5. send the rest.
      for (const m of late) this.send(m);
      // 6. apply.
      for (const e of rd.committedEntries) this.apply(e);
      for (const rs of rd.readStates) {
        const r = this.reads.get(rs.context);
        this.reads.delete(rs.context);
        if (!r) continue;
        if (this.opts.lease) this.lease.confirm(r.sentAt, r.term);
        this.waitingReads.push({ index: rs.index, cb: r.cb });
      }
      for (const ctx of rd.droppedReads) {
        const r = this.reads.get(ctx);
        this.reads.delete(ctx);
        r?.cb(new Error('leadership lost'));
      }
      this.releaseReads();
      // 7.
      raw.advance(rd);
      if (rd.softState && rd.softState.role !== 'leader') this.lease.revoke();
      if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
      this.maybeSnapshot();
    }
  }

  private installSnapshot(meta: SnapshotMeta): void {
    const data = this.incoming.get(`${meta.index}:${meta.term}`);
    if (!data) throw new Error(`${this.id}: snapshot ${meta.index} arrived without data`);
    const parsed = decodeSnapshot(data);
    this.storage.installSnapshot(meta, parsed);
    this.inv.stored(this.id, meta.index, meta.term, parsed.hash);
    this.sm.restore(parsed.sm);
    this.appliedIndex = meta.index;
    this.incoming.clear();
  }

  private send(m: Message): void {
    if (m.type === MessageType.Snapshot) {
      this.net.send({ msg: m, snapshotData: encodeSnapshot(this.storage.snapshotData) });
    } else {
      this.net.send({ msg: m });
    }
  }

  private apply(e: Entry): void {
    if (e.index !== this.appliedIndex + 1) throw new Error(`${this.id}: applied ${e.index} after ${this.appliedIndex}: out of order`);
    const hash = this.storage.hashAt(e.index);
    if (hash === undefined) throw new Error(`${this.id}: applying ${e.index}, which is not stored`);
    this.inv.appliedEntry(this.id, e.index, describe(e), hash);
    let result: unknown = undefined;
    if (e.type === EntryType.Normal && e.data.byteLength > 0) result = this.sm.apply(e.index, e.data);
    this.appliedIndex = e.index;
    const p = this.proposals.get(e.index);
    if (p) {
      this.proposals.delete(e.index);
      if (p.term === e.term) p.cb(undefined, result);
      else p.cb(new Error('overwritten by another leader'));
    }
  }

  private releaseReads(): void {
    if (this.waitingReads.length === 0) return;
    const still: Array<{ index: number; cb: Callback }> = [];
    for (const w of this.waitingReads) {
      if (w.index <= this.appliedIndex) w.cb(undefined);
      else still.push(w);
    }
    this.waitingReads = still;
  }

  private maybeSnapshot(): void {
    const raw = this.raw;
    if (!raw || this.opts.snapshotEvery <= 0) return;
    if (this.appliedIndex - this.storage.snapshot.index < this.opts.snapshotEvery) return;
    const meta = raw.compact(this.appliedIndex, 0);
    this.storage.saveSnapshot(meta, this.sm.snapshot(), raw.raft.log.offset());
  }
}

const dec = new TextDecoder();

function describe(e: Entry): string {
  return `${e.type}:${dec.decode(e.data)}`;
}

function encodeSnapshot(d: { hash: string; sm: Uint8Array }): Uint8Array {
  const h = Buffer.from(d.hash.padEnd(16, ' '), 'latin1');
  return Buffer.concat([h, d.sm]);
}

function decodeSnapshot(b: Uint8Array): { hash: string; sm: Uint8Array } {
  return { hash: Buffer.from(b.subarray(0, 16)).toString('latin1').trim(), sm: b.subarray(16) };
}
