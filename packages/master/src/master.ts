import {
  DfsError,
  ErrorCode,
  normalizePath,
  type AbandonChunkRequest,
  type AbandonChunkResponse,
  type AppendFileRequest,
  type AppendFileResponse,
  type AddMasterRequest,
  type AddMasterResponse,
  type RemoveMasterRequest,
  type RemoveMasterResponse,
  type AddChunkRequest,
  type AddChunkResponse,
  type ChunkLocation,
  type ChunkserverRef,
  type ClusterStatusResponse,
  type WhoLeadsResponse,
  type BalanceRequest,
  type BalanceResponse,
  type DecommissionRequest,
  type DecommissionResponse,
  type FsckRequest,
  type FsckResponse,
  type CompleteFileRequest,
  type CompleteFileResponse,
  type CreateFileRequest,
  type CreateFileResponse,
  type DeleteRequest,
  type DeleteResponse,
  type GetFileRequest,
  type GetFileResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type ListRequest,
  type ListResponse,
  type MkdirRequest,
  type MkdirResponse,
  type RegisterRequest,
  type RegisterResponse,
  type RenameRequest,
  type RenameResponse,
  type RenewLeaseRequest,
  type RenewLeaseResponse,
  type ReplicaReport,
  type ReportBadReplicaRequest,
  type ReportBadReplicaResponse,
  type StatRequest,
  type StatResponse,
} from '@dfs/proto';
import type { Clock } from './clock.js';
import type { CommandLog } from './command-log.js';
import { ChunkserverRegistry, infoOf, type ChunkserverNode } from './cluster/registry.js';
import { DEFAULT_REPLICATION_LIMITS, ReplicationMonitor, type ReplicationLimits } from './cluster/replication.js';
import { SafeMode } from './cluster/safe-mode.js';
import { ClusterOperations } from './cluster/operations.js';
import type { Logger } from './logger.js';
import { choosePlacement } from './placement.js';
import { ChunkLeases } from './chunk-leases.js';
import type { OpenAppendResult } from './state/append.js';
import { MAX_OP_ID_LENGTH, type ChunkCommit, type Command } from './state/commands.js';
import type { MetadataStore } from './state/metadata-store.js';
import { MAX_ADD_CHUNK_BATCH, type AddChunkResult, type DeleteResult, type RecoverLeaseResult, type TrashCheckpointResult } from './state/processor.js';
import type { FileStatus } from '@dfs/proto';

/** The slice of cluster status the status page's event log compares from tick to tick. */
export interface HealthSample {
  leaderId: string;
  chunkservers: Array<{ id: string; address: string; state: string }>;
  underReplicated: number;
  missing: number;
  corrupt: number;
  safeMode: boolean;
}

export interface MasterConfig {
  id: string;
  chunkSize: number;
  defaultReplication: number;
  /** Fewest replicas AddChunk may hand out when not enough chunkservers are live. */
  minReplicas: number;
  deadAfterMs: number;
  leaseMs: number;
  /** 0 disables the trash (deletes are immediate). */
  trashIntervalMs: number;
  safeModeMs: number;
  safeModeThreshold: number;
  replication: ReplicationLimits;
  /** Files under construction recovered per tick. */
  leaseRecoveriesPerTick: number;
  /** Chunks checked per tick by the background replication scan, and replicas by the GC scan. */
  scanBatch: number;
}

export function defaultMasterConfig(id: string): MasterConfig {
  return {
    id,
    chunkSize: 64 * 1024 * 1024,
    defaultReplication: 3,
    minReplicas: 1,
    deadAfterMs: 60_000,
    leaseMs: 60_000,
    trashIntervalMs: 6 * 3_600_000,
    safeModeMs: 30_000,
    safeModeThreshold: 0.999,
    replication: DEFAULT_REPLICATION_LIMITS,
    leaseRecoveriesPerTick: 100,
    scanBatch: 5000,
  };
}

/** The client's operation id, checked here so a bad one is refused before it reaches the log. */
function opIdOf(req: { opId?: string }): { opId?: string } {
  if (!req.opId) return {};
  if (req.opId.length > MAX_OP_ID_LENGTH) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `op_id longer than ${MAX_OP_ID_LENGTH} characters`);
  return { opId: req.opId };
}

/** Chunkservers heartbeat every second by default; a few beats let them all find a new leader. */
const REREGISTER_GRACE_HEARTBEATS_MS = 3_000;

function ref(n: ChunkserverNode): ChunkserverRef {
  return { id: n.id, address: n.address, rack: n.rack };
}

/**
 * The master's logic between the RPC shells and the state: reads answer from the local
 * database (after a read barrier unless stale_ok); writes are stamped (times, defaults,
 * lease expiries) and proposed to the CommandLog; soft state (chunkservers, replica
 * locations, safe mode, the replication queue) lives only here, only on the leader.
 */
export class Master {
  readonly registry = new ChunkserverRegistry();
  readonly safeMode: SafeMode;
  readonly replication: ReplicationMonitor;
  /** fsck, decommission, balance (cluster/operations.ts). */
  readonly operations: ClusterOperations;
  readonly chunkLeases: ChunkLeases;
  private leader = false;
  private scanCursor = 0;
  private gcIter: Iterator<number> | undefined;
  private lastTrashCheck = 0;
  private ticking = false;
  /** When leadership last changed to this node (a leader from the start has no grace period). */
  private leaderSince = -Infinity;

  constructor(
    private readonly store: MetadataStore,
    private readonly log: CommandLog,
    private readonly clock: Clock,
    readonly config: MasterConfig,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.safeMode = new SafeMode({ threshold: config.safeModeThreshold, timeoutMs: config.safeModeMs });
    this.chunkLeases = new ChunkLeases(config.leaseMs);
    this.replication = new ReplicationMonitor(
      this.registry,
      (h) => this.store.chunkFacts(h),
      () => this.leader && !this.safeMode.isActive(),
      { ...config.replication, minFreeBytes: config.replication.minFreeBytes || config.chunkSize },
      random,
    );
    this.operations = new ClusterOperations({
      registry: this.registry,
      monitor: this.replication,
      lookup: (h) => this.store.chunkFacts(h),
      namespace: this.store,
      safeMode: () => this.safeMode.isActive(),
      logger: this.logger,
      chunkSize: config.chunkSize,
    });
    if (log.isLeader()) this.becomeLeader();
    log.onLeadershipChange((isLeader) => {
      if (!isLeader) return this.stepDown();
      this.leaderSince = this.clock.now();
      this.becomeLeader();
    });
  }

  isLeader(): boolean {
    return this.leader && this.log.isLeader();
  }

  private becomeLeader(): void {
    this.registry.clear();
    this.chunkLeases.clear();
    this.replication.clear();
    this.operations?.clear();
    this.leader = true;
    this.scanCursor = 0;
    this.gcIter = undefined;
    this.safeMode.enter(this.clock.now(), this.store.committedChunkCount());
    this.safeMode.update(this.clock.now()); // an empty namespace has nothing to wait for
    this.logger.info({ safeMode: this.safeMode.status() }, 'became leader: in safe mode until chunk reports arrive');
  }

  private stepDown(): void {
    this.chunkLeases.clear();
    this.leader = false;
    this.registry.clear();
    this.replication.clear();
    this.operations?.clear();
    this.logger.info('no longer leader: soft state dropped');
  }

  private requireLeader(): void {
    if (!this.isLeader()) {
      const leader = this.log.leaderAddress();
      throw new DfsError(ErrorCode.NOT_LEADER, `not the leader${leader ? `; leader is ${leader}` : ''}`, { leader });
    }
  }

  private async propose<T>(cmd: Command): Promise<T> {
    this.requireLeader();
    const r = await this.log.propose(cmd);
    if (!r.ok) throw new DfsError(r.code, r.message);
    return r.value as T;
  }

  private async beforeRead(staleOk: boolean): Promise<void> {
    if (staleOk) return;
    this.requireLeader();
    await this.log.readBarrier();
  }

  /**
   * A new leader knows no chunkserver until they re-register (soft state, GFS §2.6): for a
   * grace period after a leadership change, "not enough chunkservers" is UNAVAILABLE,
   * which clients retry, rather than a final answer.
   */
  private placeAfterFailover<T>(place: () => T): T {
    try {
      return place();
    } catch (err) {
      const young = this.clock.now() - this.leaderSince < Math.max(10_000, 3 * REREGISTER_GRACE_HEARTBEATS_MS);
      if (young && DfsError.is(err, ErrorCode.NOT_ENOUGH_CHUNKSERVERS)) {
        throw new DfsError(ErrorCode.UNAVAILABLE, `new leader: chunkservers are still re-registering (${(err as Error).message})`);
      }
      throw err;
    }
  }

  private leaseExpiry(now: number): number {
    return now + this.config.leaseMs;
  }

  // ---- namespace (MasterService) ----

  async createFile(req: CreateFileRequest): Promise<CreateFileResponse> {
    const path = normalizePath(req.path);
    if (!req.clientId) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    const now = this.clock.now();
    const replication = req.replication || this.config.defaultReplication;
    const chunkSize = req.chunkSize || this.config.chunkSize;
    // Placement before proposing, as AddChunk does: no log entry for a chunk that cannot be placed.
    // If it cannot be placed now, the file is still created and the writer's AddChunk retries.
    let targets: ChunkserverNode[] = [];
    if (req.allocateFirstChunk) {
      try {
        targets = this.placeChunk(replication, chunkSize, []);
      } catch (err) {
        if (!DfsError.is(err, ErrorCode.NOT_ENOUGH_CHUNKSERVERS)) throw err;
      }
    }
    const { file, firstChunk } = await this.propose<{ file: FileStatus; firstChunk?: AddChunkResult }>({
      type: 'CreateFile',
      ...(targets.length > 0 ? { firstChunk: true } : {}),
      path,
      overwrite: req.overwrite,
      replication,
      mode: req.mode || 0o644,
      chunkSize,
      clientId: req.clientId,
      now,
      leaseExpiry: this.leaseExpiry(now),
      ...opIdOf(req),
    });
    if (!firstChunk) return { file, firstChunk: undefined };
    if (targets[0]) this.chunkLeases.grant(firstChunk.handle, targets[0].id, firstChunk.version, req.clientId, now);
    return {
      file,
      firstChunk: { handle: firstChunk.handle, version: firstChunk.version, offset: 0, length: 0, crc32c: 0, replicas: targets.map(ref) },
    };
  }

  private placeChunk(replication: number, chunkSize: number, exclude: string[]): ChunkserverNode[] {
    return choosePlacement({
      nodes: this.registry.liveNodes().map((n) => ({ ...n, load: n.activeWrites })),
      count: replication,
      minCount: Math.max(1, Math.min(this.config.minReplicas, replication)),
      exclude: new Set(exclude),
      minFreeBytes: chunkSize,
      random: this.random,
    });
  }

  async addChunk(req: AddChunkRequest): Promise<AddChunkResponse> {
    this.requireLeader();
    const ino = this.store.inode(req.inode);
    if (!ino) throw new DfsError(ErrorCode.NOT_FOUND, `no such file: ${req.path || `inode ${req.inode}`}`);
    // Placement first: no log entry for a chunk that could not be placed.
    const targets = this.placeAfterFailover(() => choosePlacement({
      nodes: this.registry.liveNodes().map((n) => ({ ...n, load: n.activeWrites })),
      count: ino.replication,
      minCount: Math.max(1, Math.min(this.config.minReplicas, ino.replication)),
      exclude: new Set(req.excludeChunkservers),
      minFreeBytes: ino.chunk_size,
      random: this.random,
    }));
    // Batch allocation (one log entry for several chunks): each chunk gets its own placement.
    const moreTargets: ChunkserverNode[][] = [];
    const wanted = Math.min(Math.max(1, req.count || 1), MAX_ADD_CHUNK_BATCH);
    for (let k = 1; k < wanted; k++) {
      try {
        moreTargets.push(this.placeChunk(ino.replication, ino.chunk_size, req.excludeChunkservers));
      } catch {
        break;
      }
    }
    const now = this.clock.now();
    const r = await this.propose<AddChunkResult>({
      type: 'AddChunk',
      inode: req.inode,
      clientId: req.clientId,
      index: req.index,
      ...(req.previous ? { previous: { handle: req.previous.handle, length: req.previous.length, crc32c: req.previous.crc32c } } : {}),
      now,
      leaseExpiry: this.leaseExpiry(now),
      ...(moreTargets.length > 0 ? { count: moreTargets.length + 1 } : {}),
    });
    if (targets[0]) this.chunkLeases.grant(r.handle, targets[0].id, r.version, req.clientId, this.clock.now());
    const more = (r.more ?? []).map((c, k) => {
      const t = moreTargets[k]!;
      if (t[0]) this.chunkLeases.grant(c.handle, t[0].id, c.version, req.clientId, this.clock.now());
      return { handle: c.handle, version: c.version, offset: c.offset, length: 0, crc32c: 0, replicas: t.map(ref) };
    });
    return { chunk: { handle: r.handle, version: r.version, offset: r.offset, length: 0, crc32c: 0, replicas: targets.map(ref) }, more };
  }

  async abandonChunk(req: AbandonChunkRequest): Promise<AbandonChunkResponse> {
    const now = this.clock.now();
    await this.propose({
      type: 'AbandonChunk', inode: req.inode, clientId: req.clientId, handle: req.handle, now, leaseExpiry: this.leaseExpiry(now),
    });
    return {};
  }

  async completeFile(req: CompleteFileRequest): Promise<CompleteFileResponse> {
    const chunks: ChunkCommit[] = req.chunks.map((c) => ({ handle: c.handle, length: c.length, crc32c: c.crc32c, ...(c.version ? { version: c.version } : {}) }));
    for (const c of req.chunks) this.chunkLeases.release(c.handle);
    const { file } = await this.propose<{ file: FileStatus }>({
      type: 'CompleteFile', inode: req.inode, clientId: req.clientId, chunks, now: this.clock.now(), ...opIdOf(req),
    });
    // The writer's acknowledged replicas are the first locations we know (soft state).
    for (const c of req.chunks) {
      const facts = this.store.chunkFacts(c.handle);
      if (!facts) continue;
      for (const id of c.replicas) {
        this.registry.addReplica(id, c.handle, { version: facts.version, length: c.length, crc32c: c.crc32c });
      }
      this.replication.check(c.handle);
    }
    return { file };
  }

  /** Opens a file for appending; see chunk-leases.ts and state/append.ts. */
  async appendFile(req: AppendFileRequest): Promise<AppendFileResponse> {
    this.requireLeader();
    if (!req.clientId) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    const { file: before } = this.store.getFile(normalizePath(req.path));
    const now = this.clock.now();
    const { file, version } = await this.propose<OpenAppendResult>({
      type: 'OpenAppend', inode: before.inode, clientId: req.clientId, now, leaseExpiry: this.leaseExpiry(now),
    });
    const { chunks } = await this.getFile({ path: file.path, staleOk: true });
    const last = chunks[chunks.length - 1];
    let leaseExpiryMs = 0;
    if (last && last.replicas.length > 0) {
      // The least busy up-to-date replica becomes the primary (GFS: any replica may be).
      const load = (id: string): number => this.registry.node(id)?.activeWrites ?? 0;
      const primary = last.replicas.reduce((a, b) => (load(b.id) < load(a.id) ? b : a));
      last.replicas = [primary, ...last.replicas.filter((r) => r !== primary)];
      leaseExpiryMs = this.chunkLeases.grant(last.handle, primary.id, version, req.clientId, now).expiry;
    }
    return { file, chunks, version, leaseExpiryMs };
  }

  async renewLease(req: RenewLeaseRequest): Promise<RenewLeaseResponse> {
    if (!req.clientId) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    const now = this.clock.now();
    await this.propose({ type: 'RenewLease', clientId: req.clientId, now, leaseExpiry: this.leaseExpiry(now) });
    this.chunkLeases.renewClient(req.clientId, now);
    return {};
  }

  async getFile(req: GetFileRequest): Promise<GetFileResponse> {
    await this.beforeRead(req.staleOk);
    const { file, chunks } = this.store.getFile(req.path);
    let offset = 0;
    const out: ChunkLocation[] = chunks.map((c) => {
      const loc: ChunkLocation = {
        handle: c.handle,
        version: c.version,
        offset,
        length: c.length,
        crc32c: c.crc32c,
        replicas: this.registry
          .replicasOf(c.handle)
          .filter((r) => r.info.version >= c.version)
          .map((r) => ref(r.node)),
      };
      offset += c.length;
      // While a primary holds the chunk's lease it is listed first (GFS §2.7: clients learn the primary).
      const primary = this.chunkLeases.get(c.handle, this.clock.now())?.primary;
      const at = primary ? loc.replicas.findIndex((r) => r.id === primary) : -1;
      if (at > 0) loc.replicas.unshift(...loc.replicas.splice(at, 1));
      return loc;
    });
    return { file, chunks: out };
  }

  async stat(req: StatRequest): Promise<StatResponse> {
    await this.beforeRead(req.staleOk);
    return { file: this.store.stat(req.path) };
  }

  async list(req: ListRequest): Promise<ListResponse> {
    await this.beforeRead(req.staleOk);
    return this.store.list(req.path, req.startAfter, req.limit);
  }

  async mkdir(req: MkdirRequest): Promise<MkdirResponse> {
    const { dir } = await this.propose<{ dir: FileStatus }>({
      type: 'Mkdir', path: normalizePath(req.path), parents: req.parents, mode: req.mode || 0o755, now: this.clock.now(), ...opIdOf(req),
    });
    return { dir };
  }

  async delete(req: DeleteRequest): Promise<DeleteResponse> {
    await this.propose<DeleteResult>({
      type: 'Delete',
      path: normalizePath(req.path),
      recursive: req.recursive,
      skipTrash: req.skipTrash || this.config.trashIntervalMs === 0,
      now: this.clock.now(),
      ...opIdOf(req),
    });
    return {};
  }

  async rename(req: RenameRequest): Promise<RenameResponse> {
    await this.propose({
      type: 'Rename', src: normalizePath(req.src), dst: normalizePath(req.dst), overwrite: req.overwrite, now: this.clock.now(), ...opIdOf(req),
    });
    return {};
  }

  async reportBadReplica(req: ReportBadReplicaRequest): Promise<ReportBadReplicaResponse> {
    this.requireLeader();
    this.logger.warn({ handle: req.handle, chunkserver: req.chunkserverId, reason: req.reason }, 'bad replica reported');
    this.replication.onCorrupt(req.chunkserverId, req.handle);
    return {};
  }

  /**
   * The leader's view (it alone has the soft state: chunkservers, replica health). A
   * follower that knows the leader redirects; during an election it answers with what
   * it has, so `dfs admin report` still shows the Raft group.
   */
  clusterStatus(): ClusterStatusResponse {
    if (!this.isLeader() && this.log.status().leaderAddress) this.requireLeader();
    return this.localClusterStatus();
  }

  /**
   * What the event log samples every tick: leader, node states and chunk health — none of
   * the costlier parts of the full status (the chunk count is a table scan).
   */
  healthSample(): HealthSample {
    const repl = this.replication.stats();
    return {
      leaderId: this.log.status().leaderId ?? '',
      chunkservers: this.registry.nodes().map((n) => ({ id: n.id, address: n.address, state: n.state })),
      underReplicated: repl.underReplicated,
      missing: repl.missing,
      corrupt: repl.corrupt,
      safeMode: this.leader ? this.safeMode.isActive() : false,
    };
  }

  /** Answered by every master, so a client can ask them all at once who leads (highest term wins). */
  whoLeads(): WhoLeadsResponse {
    const st = this.log.status();
    return { isLeader: this.isLeader(), term: st.term, leaderId: st.leaderId ?? '', leaderAddress: st.leaderAddress ?? '' };
  }

  /** What this master knows, leader or not (the status page shows it with a note). */
  localClusterStatus(): ClusterStatusResponse {
    const st = this.log.status();
    const repl = this.replication.stats();
    return {
      leaderId: st.leaderId ?? '',
      leaderAddress: st.leaderAddress ?? '',
      masters: st.members.map((m) => ({
        id: m.id, address: m.address, role: m.role, term: m.term, commitIndex: m.commitIndex, appliedIndex: m.appliedIndex,
      })),
      chunkservers: this.registry.nodes().map((n) => ({
        id: n.id,
        address: n.address,
        rack: n.rack,
        state: n.state,
        capacityBytes: n.capacityBytes,
        usedBytes: n.usedBytes,
        freeBytes: n.freeBytes,
        chunkCount: n.chunkCount,
        lastHeartbeatMs: n.lastHeartbeatMs,
        inflightCopies: n.inflightCopies,
        note: this.operations.note(n),
        chunksToDrain: this.operations.chunksToDrain(n),
      })),
      totalChunks: this.store.committedChunkCount(),
      underReplicated: repl.underReplicated,
      missing: repl.missing,
      corrupt: repl.corrupt,
      safeMode: this.leader ? this.safeMode.isActive() : false,
      replicationQueue: this.replication.queueLength(),
      replicationInflight: repl.inflight,
      pendingDeletes: repl.pendingDeletes,
    };
  }

  // ---- Raft membership (dfs admin masters add|remove) ----

  async addMaster(req: AddMasterRequest): Promise<AddMasterResponse> {
    if (!req.id || !/^[A-Za-z0-9._-]{1,64}$/.test(req.id)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `bad master id ${JSON.stringify(req.id)}`);
    if (!/^[^\s,=]+:\d{1,5}$/.test(req.address)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `bad master address ${JSON.stringify(req.address)} (want host:port)`);
    const members = this.membership();
    this.requireLeader();
    const existing = this.log.status().members.find((m) => m.id === req.id);
    if (existing && existing.address === req.address) return {}; // a retry: already added
    if (existing) throw new DfsError(ErrorCode.ALREADY_EXISTS, `master ${req.id} is already a member at ${existing.address}`);
    this.logger.info({ member: req.id, address: req.address }, 'adding master');
    await members.addMember(req.id, req.address);
    return {};
  }

  async removeMaster(req: RemoveMasterRequest): Promise<RemoveMasterResponse> {
    const members = this.membership();
    this.requireLeader();
    if (!this.log.status().members.some((m) => m.id === req.id)) throw new DfsError(ErrorCode.NOT_FOUND, `master ${JSON.stringify(req.id)} is not a member`);
    this.logger.info({ member: req.id }, 'removing master');
    await members.removeMember(req.id);
    return {};
  }

  private membership(): Required<Pick<CommandLog, 'addMember' | 'removeMember'>> {
    const { addMember, removeMember } = this.log;
    if (!addMember || !removeMember) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'this master does not run a replicated log');
    return { addMember: addMember.bind(this.log), removeMember: removeMember.bind(this.log) };
  }

  // ---- self-healing operations (leader only: soft state) ----

  fsck(req: FsckRequest): FsckResponse {
    this.requireLeader();
    return this.operations.fsck(req);
  }

  decommission(req: DecommissionRequest): DecommissionResponse {
    this.requireLeader();
    return this.operations.decommission(req);
  }

  balance(req: BalanceRequest): BalanceResponse {
    this.requireLeader();
    return this.operations.balance(req);
  }

  // ---- chunkservers (ChunkserverControlService) ----

  async register(req: RegisterRequest): Promise<RegisterResponse> {
    this.requireLeader();
    if (!req.id || !req.address) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'register: id and address are required');
    this.replication.forgetNode(req.id);
    const node = this.registry.register(req, this.clock.now());
    for (const r of req.replicas) this.noteReplica(node.id, r);
    this.logger.info({ chunkserver: node.id, address: node.address, rack: node.rack, replicas: req.replicas.length }, 'chunkserver registered');
    return { leaderAddress: this.log.leaderAddress() ?? '' };
  }

  async heartbeat(req: HeartbeatRequest): Promise<HeartbeatResponse> {
    this.requireLeader();
    const node = this.registry.heartbeat(req, this.clock.now());
    if (node && req.activeWrites > 0) this.chunkLeases.renewPrimary(node.id, this.clock.now());
    if (!node) return { reregister: true, deleteHandles: [], replicate: [] };
    for (const r of req.newReplicas) this.noteReplica(node.id, r);
    for (const h of req.corruptHandles) this.replication.onCorrupt(node.id, h);
    for (const h of req.failedCopies ?? []) this.replication.onCopyFailed(node.id, h);
    this.operations.noteCapacity(node);
    // A finished copy frees a throttle slot: hand out the next one now rather than a tick later.
    if (this.isLeader() && !this.safeMode.isActive() && this.replication.queueLength() > 0) this.replication.plan(this.clock.now());
    const { deleteHandles, replicate } = this.replication.takeCommands(node.id);
    return { reregister: false, deleteHandles, replicate, decommission: node.state === 'decommissioning' || node.state === 'decommissioned' };
  }

  /** One reported replica: record it, count it for safe mode, delete it if garbage or stale. */
  private noteReplica(nodeId: string, r: ReplicaReport): void {
    const info = infoOf(r);
    if (this.replication.isCorrupt(nodeId, r.handle)) {
      this.registry.removeReplica(nodeId, r.handle); // known bad: never served, deleted once replaced
      return;
    }
    this.registry.addReplica(nodeId, r.handle, info);
    const verdict = this.replication.verdict(r.handle, info);
    if (verdict === 'garbage' || verdict === 'stale') {
      if (verdict === 'stale') {
        // GFS §4.5: it missed a mutation while it was away; never listed for reads, deleted.
        this.logger.info({ chunkserver: nodeId, handle: r.handle, version: r.version, current: this.store.chunkFacts(r.handle)?.version }, 'stale replica reported');
      }
      this.replication.scheduleDelete(nodeId, r.handle); // refused in safe mode; the GC scan retries
      return;
    }
    this.replication.onReplicaReported(nodeId, r.handle);
    if (verdict === 'ok') {
      this.safeMode.noteReplica(r.handle);
      if (!this.safeMode.isActive()) this.replication.check(r.handle);
    }
  }

  // ---- background work, driven by the server's timer (tests call it directly) ----

  async tick(): Promise<void> {
    if (!this.isLeader() || this.ticking) return;
    this.ticking = true;
    try {
      const now = this.clock.now();
      // A stalled master (event loop blocked, process paused) must not declare every node dead
      // for its own silence: time it could not hear heartbeats in is not counted against them.
      this.registry.forgiveStall(now, this.config.deadAfterMs);
      for (const { node, handles } of this.registry.expire(now, this.config.deadAfterMs)) {
        this.logger.warn({ chunkserver: node.id, replicas: handles.length }, 'chunkserver declared dead');
        this.replication.forgetNode(node.id);
        this.replication.forgetCorruptOn(node.id);
        for (const h of handles) this.replication.check(h);
      }
      if (this.safeMode.update(now)) {
        this.logger.info({ safeMode: this.safeMode.status() }, 'left safe mode');
        this.scanCursor = 0;
      }
      if (this.safeMode.isActive()) return;
      this.scanChunks();
      this.collectGarbage();
      this.replication.plan(now);
      this.operations.tick(now);
      await this.recoverLeases(now);
      await this.checkpointTrash(now);
    } finally {
      this.ticking = false;
    }
  }

  /** Background replication scan: walks every chunk of the namespace, a batch per tick. */
  private scanChunks(): void {
    const page = this.store.scanChunks(this.scanCursor, this.config.scanBatch);
    for (const c of page) if (c.committed) this.replication.check(c.handle);
    this.scanCursor = page.length < this.config.scanBatch ? 0 : page[page.length - 1]!.handle;
  }

  /** Lazy GC (GFS §4.4): replicas of chunks no file refers to, or at an old version. */
  private collectGarbage(): void {
    if (!this.gcIter) this.gcIter = this.registry.handles();
    for (let i = 0; i < this.config.scanBatch; i++) {
      const next = this.gcIter.next();
      if (next.done) {
        this.gcIter = undefined;
        return;
      }
      const handle = next.value;
      for (const r of this.registry.replicasOf(handle)) {
        const v = this.replication.verdict(handle, r.info);
        if (v === 'garbage' || v === 'stale') this.replication.scheduleDelete(r.node.id, handle);
      }
    }
  }

  /** Writers whose lease ran out: close their files at the last complete chunk. */
  private async recoverLeases(now: number): Promise<void> {
    for (const ino of this.store.expiredLeases(now, this.config.leaseRecoveriesPerTick)) {
      // GFS §3.1: no new decision about a chunk while its primary may still hold a lease.
      if (this.store.chunksOf(ino.id).some((c) => this.chunkLeases.get(c.handle, now))) continue;
      const reported: ChunkCommit[] = [];
      for (const c of this.store.chunksOf(ino.id)) {
        if (c.committed) continue;
        const replicas = this.registry.replicasOf(c.handle).filter((r) => r.info.version >= c.version);
        if (replicas.length === 0) break;
        // The shortest replica is the length every replica is known to hold (HDFS block recovery).
        const shortest = replicas.reduce((a, b) => (b.info.length < a.info.length ? b : a));
        reported.push({ handle: c.handle, length: shortest.info.length, crc32c: shortest.info.crc32c });
      }
      const r = await this.propose<RecoverLeaseResult>({ type: 'RecoverLease', inode: ino.id, now, chunks: reported });
      this.logger.info({ inode: ino.id, holder: ino.lease_holder, ...r }, 'writer lease expired: file recovered');
    }
  }

  private async checkpointTrash(now: number): Promise<void> {
    const interval = this.config.trashIntervalMs;
    if (interval <= 0) return;
    if (now - this.lastTrashCheck < Math.min(interval, 60_000)) return;
    this.lastTrashCheck = now;
    if (!this.store.trashHasWork(now, interval)) return;
    const r = await this.propose<TrashCheckpointResult>({ type: 'TrashCheckpoint', now, intervalMs: interval });
    this.logger.info(r, 'trash checkpoint');
  }
}
