import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  ChunkserverControlServiceClient,
  ErrorCode,
  MasterServiceClient,
  findLeader,
  whoLeadsVia,
  channelOptions,
  toDfsError,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterRequest,
  type RegisterResponse,
  type ReplicaReport,
  type ReplicateCommand,
} from '@dfs/proto';
import { channelCredentials, explainConnectError, type Security } from '@dfs/security';
import type { ChunkRecord, ChunkStore } from './chunk-store.js';
import { ClientPool } from './client-pool.js';
import type { CapacityReport } from './capacity.js';
import type { ChunkserverFaultInjector } from './fault-injector.js';
import { pause } from './throttle.js';

/*
 * The control loop with the master leader (GFS §4, HDFS DataNode BPServiceActor):
 *
 *   1. Find the leader: the last known leader, else ask every master at once who leads
 *      (findLeader: highest term among masters that say they lead; a follower's redirect may
 *      be stale and is not needed). Every call has a deadline: a paused master accepts
 *      connections but never answers.
 *   2. Register with a full chunk report.
 *   3. Every heartbeatMs: Heartbeat with load, free space, replicas written since the last
 *      acknowledged heartbeat and replicas found corrupt; execute the commands in the answer
 *      (delete, replicate).
 *   4. Back to 2 when the master asks (`reregister`) or a different master answers (leader
 *      change): a new leader learns replica locations only from reports (soft state).
 *
 * Reports not acknowledged by a successful heartbeat stay pending and are sent again.
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
}

interface Pending<T> {
  value: T;
}

export class MasterLink {
  private leader?: string;
  private registeredWith?: string;
  private readonly pendingNew = new Map<number, Pending<ReplicaReport>>();
  private readonly pendingCorrupt = new Map<number, Pending<string>>();
  private readonly pendingFailedCopies = new Set<number>();
  private nudgeTimer?: NodeJS.Timeout;
  /** The master drains this node: told in heartbeats, repeated at registration (a new leader re-learns it). */
  private decommissioning = false;
  private readonly control = new ClientPool((a) => new ChunkserverControlServiceClient(a, channelCredentials(this.opts.security), channelOptions()));
  private readonly master = new ClientPool((a) => new MasterServiceClient(a, channelCredentials(this.opts.security), channelOptions()));
  private readonly whoLeads = whoLeadsVia((a) => this.master.get(a));
  private loop?: Promise<void>;
  private healthy = true;
  private next = 0;
  private wake?: () => void;
  /** Counters for status pages and tests. */
  readonly stats = { registrations: 0, heartbeats: 0, failures: 0 };

  constructor(private readonly opts: MasterLinkOptions) {}

  /** The master currently believed to lead, if any. */
  get leaderAddress(): string | undefined {
    return this.leader;
  }

  get registered(): boolean {
    return this.registeredWith !== undefined;
  }

  start(): void {
    if (this.opts.masters.length === 0) {
      this.opts.log.warn('no masters configured; running without a control loop');
      return;
    }
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    clearTimeout(this.nudgeTimer);
    this.wake?.();
    // Closing the channels fails an in-flight call at once instead of waiting for its deadline.
    this.control.close();
    this.master.close();
    await this.loop;
  }

  /** A replica was committed: report it in the next heartbeat. */
  replicaCommitted(record: ChunkRecord): void {
    this.pendingCorrupt.delete(record.handle);
    this.pendingNew.set(record.handle, { value: toReport(record) });
  }

  /**
   * A re-replication copy finished (or failed): heartbeat soon, so the master learns it and
   * hands out the next copy without waiting a whole period. Debounced: one early heartbeat
   * covers every copy that finished within `nudgeMs`.
   */
  copyFinished(handle: number, ok: boolean, nudgeMs = 50): void {
    if (!ok) this.pendingFailedCopies.add(handle);
    if (this.nudgeTimer || this.opts.signal.aborted) return;
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = undefined;
      this.wake?.();
    }, nudgeMs);
  }

  /** A replica was found corrupt: report it now (best effort) and in the next heartbeats until acknowledged. */
  replicaCorrupt(handle: number, reason: string): void {
    this.pendingNew.delete(handle);
    this.pendingCorrupt.set(handle, { value: reason });
    void this.reportBadReplica(handle, reason);
    this.wake?.();
  }

  private async run(): Promise<void> {
    const { signal, heartbeatMs, log } = this.opts;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        await this.tick();
        if (!this.healthy) log.info({ leader: this.leader }, 'master reachable again');
        this.healthy = true;
      } catch (err) {
        this.stats.failures++;
        const d = toDfsError(err);
        if (this.healthy && !signal.aborted) log.warn({ code: d.codeName, err: d.message }, 'cannot reach the master leader; retrying');
        else log.debug({ code: d.codeName, err: d.message }, 'master still unreachable');
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
    const fi = this.opts.faultInjector;
    if (fi.beforeHeartbeat) await fi.beforeHeartbeat();
    if (this.registeredWith === undefined) {
      await this.register();
      return;
    }
    const sentNew = [...this.pendingNew.entries()];
    const sentCorrupt = [...this.pendingCorrupt.entries()];
    const sentFailed = [...this.pendingFailedCopies];
    const cap = await this.opts.capacity();
    const req: HeartbeatRequest = {
      id: this.opts.selfId,
      capacityBytes: cap.capacityBytes,
      freeBytes: cap.freeBytes,
      usedBytes: cap.usedBytes,
      chunkCount: this.opts.store.count,
      activeWrites: this.opts.store.activeWrites,
      inflightCopies: this.opts.inflightCopies(),
      newReplicas: sentNew.map(([, p]) => p.value),
      corruptHandles: sentCorrupt.map(([h]) => h),
      failedCopies: sentFailed,
    };
    const { address, response } = await this.withLeader('Heartbeat', (a) => this.heartbeatRpc(a, req));
    this.stats.heartbeats++;
    for (const [h, p] of sentNew) if (this.pendingNew.get(h) === p) this.pendingNew.delete(h);
    for (const [h, p] of sentCorrupt) if (this.pendingCorrupt.get(h) === p) this.pendingCorrupt.delete(h);
    for (const h of sentFailed) this.pendingFailedCopies.delete(h);
    if (response.decommission !== undefined && response.decommission !== this.decommissioning) {
      this.decommissioning = response.decommission;
      this.opts.log.info({ decommissioning: this.decommissioning }, this.decommissioning ? 'being decommissioned: chunks are drained to other nodes' : 'back in service');
    }
    if (response.reregister || address !== this.registeredWith) {
      this.opts.log.info({ leader: address, reason: response.reregister ? 'master asked' : 'leader changed' }, 'sending a full chunk report');
      this.registeredWith = undefined;
      await this.register();
    }
    if (response.deleteHandles.length > 0) this.opts.onDelete(response.deleteHandles);
    if (response.replicate.length > 0) this.opts.onReplicate(response.replicate);
  }

  private async register(): Promise<void> {
    const sentNew = [...this.pendingNew.entries()];
    const cap = await this.opts.capacity();
    const req: RegisterRequest = {
      id: this.opts.selfId,
      address: this.opts.address,
      rack: this.opts.rack,
      capacityBytes: cap.capacityBytes,
      freeBytes: cap.freeBytes,
      usedBytes: cap.usedBytes,
      replicas: this.opts.store.list().map(toReport),
      ...(this.decommissioning ? { decommissioning: true } : {}),
    };
    const { address } = await this.withLeader('Register', (a) => this.registerRpc(a, req));
    // The full report covered everything committed before it was built.
    for (const [h, p] of sentNew) if (this.pendingNew.get(h) === p) this.pendingNew.delete(h);
    this.registeredWith = address;
    this.stats.registrations++;
    this.opts.log.info({ leader: address, replicas: req.replicas.length }, 'registered with the master leader');
  }

  private async reportBadReplica(handle: number, reason: string): Promise<void> {
    if (this.opts.masters.length === 0) return;
    try {
      await this.withLeader('ReportBadReplica', (a) =>
        unary<void>((cb) =>
          this.master.get(a).reportBadReplica(
            { handle, chunkserverId: this.opts.selfId, reason },
            new Metadata(),
            { deadline: Date.now() + this.opts.callTimeoutMs },
            (err) => cb(err, undefined),
          ),
        ),
      );
    } catch (err) {
      this.opts.log.debug({ handle, err: toDfsError(err).message }, 'ReportBadReplica failed; the next heartbeat carries it');
    }
  }

  /**
   * Runs `call` against the leader: the known leader first, then each master in turn, following
   * NOT_LEADER hints. Throws the last error when nobody answers as leader.
   */
  private async withLeader<T>(what: string, call: (address: string) => Promise<T>): Promise<{ address: string; response: T }> {
    const masters = this.opts.masters;
    const tried = new Set<string>();
    // Asking everyone at once beats walking the list with a timeout per dead master.
    const found = this.leader ? undefined : await findLeader(masters, this.whoLeads, this.opts.callTimeoutMs, this.opts.signal);
    let candidate = this.leader ?? found?.address ?? masters[this.next % masters.length]!;
    let lastErr: unknown;
    for (let attempt = 0; attempt < masters.length + 3 && !this.opts.signal.aborted; attempt++) {
      tried.add(candidate);
      try {
        const response = await call(candidate);
        if (this.leader !== candidate) this.opts.log.debug({ leader: candidate }, 'found master leader');
        this.leader = candidate;
        return { address: candidate, response };
      } catch (err) {
        // A TLS/plaintext mismatch or a refused certificate becomes one line naming the master.
        const d = explainConnectError(toDfsError(err), candidate, this.opts.security);
        lastErr = d;
        this.opts.log.debug({ master: candidate, rpc: what, code: d.codeName, err: d.message }, 'master call failed');
        if (this.leader === candidate) this.leader = undefined;
        if (d.code === ErrorCode.NOT_LEADER || d.code === ErrorCode.UNAVAILABLE || d.code === ErrorCode.DEADLINE_EXCEEDED) {
          // Not (or no longer) the leader: ask everyone who leads now rather than trust a redirect.
          const now = await findLeader(masters, this.whoLeads, this.opts.callTimeoutMs, this.opts.signal);
          if (now && now.address !== candidate) {
            candidate = now.address;
            continue;
          }
        }
        // No master claims to lead (mid-election, or masters too old to answer WhoLeads): a
        // redirect to a master not tried yet is the best guess left.
        if (d.code === ErrorCode.NOT_LEADER && d.leader && !tried.has(d.leader)) {
          candidate = d.leader;
          continue;
        }
        const untried = masters.find((m) => !tried.has(m));
        if (untried === undefined) break;
        candidate = untried;
        this.next = masters.indexOf(untried);
      }
    }
    this.next++;
    throw lastErr ?? new Error(`${what}: no master to call`);
  }

  private registerRpc(address: string, req: RegisterRequest): Promise<RegisterResponse> {
    // A full report of many replicas may take longer than a heartbeat.
    const deadline = Date.now() + this.opts.callTimeoutMs * 2;
    return unary((cb) => this.control.get(address).register(req, new Metadata(), { deadline }, cb));
  }

  private heartbeatRpc(address: string, req: HeartbeatRequest): Promise<HeartbeatResponse> {
    const deadline = Date.now() + this.opts.callTimeoutMs;
    return unary((cb) => this.control.get(address).heartbeat(req, new Metadata(), { deadline }, cb));
  }
}

function unary<T>(start: (cb: (err: ServiceError | null, resp: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, resp) => (err ? reject(err) : resolve(resp))));
}

function toReport(r: ChunkRecord): ReplicaReport {
  return { handle: r.handle, version: r.version, length: r.length, crc32c: r.crc32c };
}
