import { randomInt } from 'node:crypto';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '@dfs/telemetry';
import {
  ChunkserverControlServiceClient,
  MasterServiceClient,
  channelOptions,
  toDfsError,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterRequest,
  type RegisterResponse,
  type ReplicaReport,
  type ReplicateCommand,
  type ChunkTokenKey,
  ChannelPool,
} from '@dfs/proto';
import { channelCredentials, explainConnectError, type Security } from '@dfs/security';
import type { ChunkRecord, ChunkStore } from './chunk-store.js';
import type { CapacityReport } from './capacity.js';
import type { ChunkserverFaultInjector } from './fault-injector.js';
import { pause } from './throttle.js';

/*
 * The control loops with the masters (GFS §4; HDFS DataNode BPOfferService, one
 * BPServiceActor per NameNode): one loop per configured master, each on its own:
 *
 *   1. Register with a full chunk report.
 *   2. Every heartbeatMs: Heartbeat with load, free space, replicas written and deleted since
 *      the last acknowledged heartbeat to *that* master, and replicas found corrupt.
 *   3. Back to 1 when that master asks (`reregister`: it restarted, or declared us dead).
 *
 * Each registration has a random id, and the heartbeats after it carry that id and a seq
 * 1, 2, 3…: a heartbeat given up on at its deadline may still reach the master later, and the
 * master then applies none of it and says so (`ignored`); its reports stay pending here.
 *
 * So every master — followers too — knows node health and replica locations, and a new
 * leader serves at once with no wait for re-registration. Only an answer that says
 * `leader` carries commands (delete, replicate, decommission), and only those are obeyed.
 * Every call has a deadline: a paused master accepts connections but never answers, and
 * stalls only its own loop. Reports not acknowledged by a master stay pending for it.
 */

export interface MasterLinkOptions {
  selfId: string;
  security: Security;
  address: string;
  rack: string;
  masters: string[];
  heartbeatMs: number;
  callTimeoutMs: number;
  store: ChunkStore;
  log: Logger;
  faultInjector: ChunkserverFaultInjector;
  signal: AbortSignal;
  capacity(): Promise<CapacityReport>;
  inflightCopies(): number;
  onDelete(handles: number[]): void;
  onReplicate(commands: ReplicateCommand[]): void;
  /** The chunk-token key ring, as any master's register or heartbeat answer carries it. */
  onChunkKeys?(keys: ChunkTokenKey[]): void;
}

interface Pending<T> {
  value: T;
}

const CAPACITY_WAIT_MS = 200;

export class MasterLink {
  private readonly sessions: MasterSession[];
  private nudgeTimer?: NodeJS.Timeout;
  /** The master drains this node: told by the leader, repeated to every master (and at registration). */
  decommissioning = false;
  readonly control = new ChannelPool((a) => new ChunkserverControlServiceClient(a, channelCredentials(this.opts.security), channelOptions()));
  private readonly master = new ChannelPool((a) => new MasterServiceClient(a, channelCredentials(this.opts.security), channelOptions()));
  private loops: Array<Promise<void>> = [];
  private lastCapacity?: CapacityReport;
  private measuring?: Promise<CapacityReport>;
  /** Counters for status pages and tests (summed over every master). */
  readonly stats = { registrations: 0, heartbeats: 0, failures: 0 };

  constructor(readonly opts: MasterLinkOptions) {
    this.sessions = [...new Set(opts.masters)].map((a) => new MasterSession(this, a));
  }

  /**
   * Capacity for a report: one statfs at a time shared by every master's loop; one slower
   * than CAPACITY_WAIT_MS gives way to the last figures (statfs queues behind fsyncs in
   * libuv's thread pool on a busy disk: a heartbeat must not wait for it, or the node would
   * be declared dead while it works).
   */
  async capacity(): Promise<CapacityReport> {
    if (!this.measuring) {
      this.measuring = this.opts.capacity().then(
        (c) => {
          this.lastCapacity = c;
          this.measuring = undefined;
          return c;
        },
        (err: unknown) => {
          this.measuring = undefined;
          throw err;
        },
      );
    }
    const last = this.lastCapacity;
    if (!last) return this.measuring;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<CapacityReport>((resolve) => {
      timer = setTimeout(() => resolve(last), CAPACITY_WAIT_MS);
    });
    try {
      return await Promise.race([this.measuring.catch(() => last), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The master whose last answer said it leads, if any. */
  get leaderAddress(): string | undefined {
    return this.leaderSession()?.address;
  }

  /** Registered with the leader (or, while none is known, with some master). */
  get registered(): boolean {
    const leader = this.leaderSession();
    return leader ? leader.registered : this.sessions.some((s) => s.registered);
  }

  private leaderSession(): MasterSession | undefined {
    return this.sessions.find((s) => s.leads);
  }

  start(): void {
    if (this.sessions.length === 0) {
      this.opts.log.warn('no masters configured; running without a control loop');
      return;
    }
    if (this.loops.length === 0) this.loops = this.sessions.map((s) => s.run());
  }

  async stop(): Promise<void> {
    clearTimeout(this.nudgeTimer);
    for (const s of this.sessions) s.wakeUp();
    // Closing the channels fails an in-flight call at once instead of waiting for its deadline.
    this.control.close();
    this.master.close();
    await Promise.all(this.loops);
  }

  /** Heartbeat every master now (a call carried a token signed with a key this node lacks). */
  heartbeatNow(): void {
    for (const s of this.sessions) s.wakeUp();
  }

  /** A replica was committed: report it in the next heartbeat to every master. */
  replicaCommitted(record: ChunkRecord): void {
    for (const s of this.sessions) s.replicaCommitted(toReport(record));
  }

  /** A replica was deleted (a leader's command): every master forgets it. */
  replicaDeleted(handle: number): void {
    for (const s of this.sessions) s.replicaDeleted(handle);
  }

  /**
   * A re-replication copy finished (or failed): heartbeat soon, so the leader learns it and
   * hands out the next copy without waiting a whole period. Debounced: one early heartbeat
   * covers every copy that finished within `nudgeMs`.
   */
  copyFinished(handle: number, ok: boolean, nudgeMs = 50): void {
    if (!ok) for (const s of this.sessions) s.copyFailed(handle);
    if (this.nudgeTimer || this.opts.signal.aborted) return;
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = undefined;
      for (const s of this.sessions) s.wakeUp();
    }, nudgeMs);
  }

  /** A replica was found corrupt: report it to the leader now (best effort) and to every master in the next heartbeats. */
  replicaCorrupt(handle: number, reason: string): void {
    for (const s of this.sessions) s.replicaCorrupt(handle, reason);
    void this.reportBadReplica(handle, reason);
    for (const s of this.sessions) s.wakeUp();
  }

  /** The highest Raft term a leader's commands were obeyed in. */
  private highestTerm = 0;

  /** Commands from an answer that said `leader` (a follower's answer carries none). */
  obey(from: string, response: HeartbeatResponse): void {
    if (!response.leader) return;
    // A leader deposed while paused answers as leader until its Raft loop hears the new term:
    // its commands come from a stale view (a chunk allocated since looks like garbage to it).
    if (response.term < this.highestTerm) {
      this.opts.log.warn({ master: from, term: response.term, highestTerm: this.highestTerm }, 'commands from a deposed leader ignored');
      return;
    }
    this.highestTerm = response.term;
    if (response.decommission !== undefined && response.decommission !== this.decommissioning) {
      this.decommissioning = response.decommission;
      this.opts.log.info({ decommissioning: this.decommissioning, leader: from }, this.decommissioning ? 'being decommissioned: chunks are drained to other nodes' : 'back in service');
    }
    if (response.deleteHandles.length > 0) this.opts.onDelete(response.deleteHandles);
    if (response.replicate.length > 0) this.opts.onReplicate(response.replicate);
  }

  /** A session learned who leads: no other session may still claim it. */
  leaderIs(session: MasterSession): void {
    for (const s of this.sessions) if (s !== session) s.leads = false;
  }

  private async reportBadReplica(handle: number, reason: string): Promise<void> {
    const leader = this.leaderAddress;
    if (!leader) return; // the heartbeats carry it
    try {
      await unary<void>((cb) =>
        this.master.get(leader).reportBadReplica(
          { handle, chunkserverId: this.opts.selfId, reason },
          new Metadata(),
          { deadline: Date.now() + this.opts.callTimeoutMs },
          (err) => cb(err, undefined),
        ),
      );
    } catch (err) {
      this.opts.log.debug({ handle, err: toDfsError(err).message }, 'ReportBadReplica failed; the next heartbeat carries it');
    }
  }
}

/** The loop with one master: its own registration and its own pending reports. */
class MasterSession {
  /** The last answer from this master said it leads. */
  leads = false;
  private registeredWith = false;
  private readonly pendingNew = new Map<number, Pending<ReplicaReport>>();
  private readonly pendingDeleted = new Set<number>();
  private readonly pendingCorrupt = new Map<number, Pending<string>>();
  private readonly pendingFailedCopies = new Set<number>();
  private healthy = true;
  private wake?: () => void;
  /** The id of the registration with this master that our heartbeats follow, and their last seq. */
  private registration = 0;
  private seq = 0;

  constructor(
    private readonly link: MasterLink,
    readonly address: string,
  ) {}

  get registered(): boolean {
    return this.registeredWith;
  }

  wakeUp(): void {
    this.wake?.();
  }

  replicaCommitted(report: ReplicaReport): void {
    this.pendingCorrupt.delete(report.handle);
    this.pendingDeleted.delete(report.handle);
    this.pendingNew.set(report.handle, { value: report });
  }

  replicaDeleted(handle: number): void {
    this.pendingNew.delete(handle);
    this.pendingDeleted.add(handle);
  }

  replicaCorrupt(handle: number, reason: string): void {
    this.pendingNew.delete(handle);
    this.pendingCorrupt.set(handle, { value: reason });
  }

  copyFailed(handle: number): void {
    this.pendingFailedCopies.add(handle);
  }

  async run(): Promise<void> {
    const { signal, heartbeatMs, log } = this.link.opts;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await this.tick();
        if (!this.healthy) log.info({ master: this.address, leader: this.leads }, 'master reachable again');
        this.healthy = true;
      } catch (err) {
        this.link.stats.failures++;
        this.leads = false;
        // A TLS/plaintext mismatch or a refused certificate becomes one line naming the master.
        const d = explainConnectError(toDfsError(err), this.address, this.link.opts.security);
        if (this.healthy && !signal.aborted) log.warn({ master: this.address, code: d.codeName, err: d.message }, 'cannot reach a master; retrying');
        else log.debug({ master: this.address, code: d.codeName, err: d.message }, 'master still unreachable');
        this.healthy = false;
      }
      const wait = Math.max(0, heartbeatMs - (Date.now() - started));
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        void pause(wait, signal).then(resolve);
      });
      this.wake = undefined;
    }
  }

  private async tick(): Promise<void> {
    const { opts } = this.link;
    const fi = opts.faultInjector;
    if (fi.beforeHeartbeat) await fi.beforeHeartbeat();
    if (!this.registeredWith) {
      await this.register();
      return;
    }
    const sentNew = [...this.pendingNew.entries()];
    const sentDeleted = [...this.pendingDeleted];
    const sentCorrupt = [...this.pendingCorrupt.entries()];
    const sentFailed = [...this.pendingFailedCopies];
    const cap = await this.link.capacity();
    // Numbered even if this call fails: it may still be delivered, after later ones.
    this.seq++;
    const req: HeartbeatRequest = {
      id: opts.selfId,
      capacityBytes: cap.capacityBytes,
      freeBytes: cap.freeBytes,
      usedBytes: cap.usedBytes,
      chunkCount: opts.store.count,
      activeWrites: opts.store.activeWrites,
      inflightCopies: opts.inflightCopies(),
      newReplicas: sentNew.map(([, p]) => p.value),
      corruptHandles: sentCorrupt.map(([h]) => h),
      failedCopies: sentFailed,
      deletedHandles: sentDeleted,
      decommissioning: this.link.decommissioning, // false too: a cancel reaches the followers
      registration: this.registration,
      seq: this.seq,
    };
    const deadline = Date.now() + opts.callTimeoutMs;
    const response = await unary<HeartbeatResponse>((cb) => this.link.control.get(this.address).heartbeat(req, new Metadata(), { deadline }, cb));
    this.link.stats.heartbeats++;
    if (response.ignored) {
      // The master applied none of it (it took it for a late one): everything stays pending.
      opts.log.debug({ master: this.address, seq: req.seq }, 'heartbeat ignored by the master; its reports go again');
    } else {
      for (const [h, p] of sentNew) if (this.pendingNew.get(h) === p) this.pendingNew.delete(h);
      for (const h of sentDeleted) if (!this.pendingNew.has(h)) this.pendingDeleted.delete(h);
      for (const [h, p] of sentCorrupt) if (this.pendingCorrupt.get(h) === p) this.pendingCorrupt.delete(h);
      for (const h of sentFailed) this.pendingFailedCopies.delete(h);
    }
    this.noteLeader(response.leader ?? false);
    if (response.chunkKeys?.length) opts.onChunkKeys?.(response.chunkKeys);
    if (response.reregister) {
      opts.log.info({ master: this.address }, 'master asked for a full chunk report');
      this.registeredWith = false;
      await this.register();
    }
    this.link.obey(this.address, response);
  }

  private noteLeader(leads: boolean): void {
    if (leads && !this.leads) {
      this.link.opts.log.info({ leader: this.address }, 'master leader found');
      this.link.leaderIs(this);
    }
    this.leads = leads;
  }

  private async register(): Promise<void> {
    const { opts } = this.link;
    const sentNew = [...this.pendingNew.entries()];
    const sentDeleted = [...this.pendingDeleted];
    const sentFailed = [...this.pendingFailedCopies];
    const cap = await this.link.capacity();
    // A new id each time: heartbeats sent before this registration are told from those after it.
    const registration = randomInt(1, 2 ** 48);
    const req: RegisterRequest = {
      id: opts.selfId,
      address: opts.address,
      rack: opts.rack,
      capacityBytes: cap.capacityBytes,
      freeBytes: cap.freeBytes,
      usedBytes: cap.usedBytes,
      replicas: opts.store.list().map(toReport),
      ...(this.link.decommissioning ? { decommissioning: true } : {}),
      registration,
    };
    // A full report of many replicas may take longer than a heartbeat.
    const deadline = Date.now() + opts.callTimeoutMs * 2;
    const response = await unary<RegisterResponse>((cb) => this.link.control.get(this.address).register(req, new Metadata(), { deadline }, cb));
    // The full report covered everything committed or deleted before it was built.
    for (const [h, p] of sentNew) if (this.pendingNew.get(h) === p) this.pendingNew.delete(h);
    for (const h of sentDeleted) if (!this.pendingNew.has(h)) this.pendingDeleted.delete(h);
    // A master forgets the copies it handed a node that registers: their failures are moot (and
    // must not end a copy of the same chunk handed out after the registration).
    for (const h of sentFailed) this.pendingFailedCopies.delete(h);
    this.registration = registration;
    this.seq = 0;
    this.registeredWith = true;
    this.link.stats.registrations++;
    if (response.chunkKeys?.length) opts.onChunkKeys?.(response.chunkKeys);
    this.noteLeader(response.leader ?? false);
    opts.log.info({ master: this.address, leader: this.leads, replicas: req.replicas.length }, 'registered with a master');
  }
}

function unary<T>(start: (cb: (err: ServiceError | null, resp: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, resp) => (err ? reject(err) : resolve(resp))));
}

function toReport(r: ChunkRecord): ReplicaReport {
  return { handle: r.handle, version: r.version, length: r.length, crc32c: r.crc32c };
}
