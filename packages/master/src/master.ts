import {
  DfsError,
  ErrorCode,
  FileType,
  MAX_INLINE_BYTES,
  normalizePath,
  pathComponents,
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
  checkAddress,
  checkNodeId,
  checkRequestId,
  type SetAttrRequest,
  type SetAttrResponse,
  type SymlinkRequest,
  type SymlinkResponse,
  type LinkRequest,
  type LinkResponse,
  type MknodRequest,
  type MknodResponse,
  type SetQuotaRequest,
  type SetQuotaResponse,
  type ContentSummaryRequest,
  type ContentSummaryResponse,
  type SetReplicationRequest,
  type SetReplicationResponse,
  type WhoAmIResponse,
  type CreateTokenRequest,
  type CreateTokenResponse,
  type RevokeTokenRequest,
  type RevokeTokenResponse,
  type SnapshotRequest,
  type SnapshotResponse,
} from '@dfs/proto';
import { SUPERUSER, type Caller, type CallerSource } from './auth/caller.js';
import { MAX_TOKEN_TTL_MS, TokenService, newSigningKey } from './auth/tokens.js';
import { signingKeyOf } from '@dfs/security';
import { ChunkTokenIssuer, DEFAULT_CHUNK_TOKEN_CONFIG, keysForChunkservers, planChunkKey, type ChunkTokenConfig } from './auth/chunk-tokens.js';
import type { Clock } from './clock.js';
import type { CommandLog } from './command-log.js';
import { ChunkserverRegistry, infoOf, type ChunkserverNode } from './cluster/registry.js';
import { DEFAULT_REPLICATION_LIMITS, ReplicationMonitor, type CopyEvent, type ReplicationLimits } from './cluster/replication.js';
import { SafeMode } from './cluster/safe-mode.js';
import { SetAsideReplicas, afterBackup } from './cluster/set-aside.js';
import { refuseSnapshotPath } from './state/snapshots.js';
import { ClusterOperations } from './cluster/operations.js';
import type { Logger } from '@dfs/telemetry';
import { choosePlacement } from './placement.js';
import { ChunkLeases } from './chunk-leases.js';
import type { OpenAppendResult } from './state/append.js';
import type { ChunkCommit, Command } from './state/commands.js';
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
  /** HDFS hard limit: renewals keep a file's lease at most this long past its last progress. */
  leaseHardLimitMs: number;
  /** 0 disables the trash (deletes are immediate). */
  trashIntervalMs: number;
  safeModeMs: number;
  safeModeThreshold: number;
  replication: ReplicationLimits;
  /** Files under construction recovered per tick. */
  leaseRecoveriesPerTick: number;
  /** Chunks checked per tick by the background replication scan, and replicas by the GC scan. */
  scanBatch: number;
  /** Chunk access tokens: their lifetime and the key ring's rotation (auth/chunk-tokens.ts). */
  chunkTokens: ChunkTokenConfig;
}

export function defaultMasterConfig(id: string): MasterConfig {
  return {
    id,
    chunkSize: 64 * 1024 * 1024,
    defaultReplication: 3,
    minReplicas: 1,
    deadAfterMs: 60_000,
    leaseMs: 60_000,
    leaseHardLimitMs: 3_600_000,
    trashIntervalMs: 6 * 3_600_000,
    safeModeMs: 30_000,
    safeModeThreshold: 0.999,
    replication: DEFAULT_REPLICATION_LIMITS,
    leaseRecoveriesPerTick: 100,
    scanBatch: 5000,
    chunkTokens: DEFAULT_CHUNK_TOKEN_CONFIG,
  };
}

/** The client's operation id, checked here so a bad one is refused before it reaches the log. */
function nonNegative(v: number, name: string): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `bad ${name} ${v}`);
  return v;
}

function opIdOf(req: { opId?: string }): { opId?: string } {
  if (!req.opId) return {};
  return { opId: checkRequestId(req.opId, 'op_id') };
}

/** Chunkservers heartbeat every second by default; a few beats let them all reach a restarted master. */
const REREGISTER_GRACE_HEARTBEATS_MS = 3_000;

function snapshotInfo(s: { path: string; name: string; created: number; files: number; bytes: number }): { path: string; name: string; createdMs: number; files: number; bytes: number } {
  return { path: s.path, name: s.name, createdMs: s.created, files: s.files, bytes: s.bytes };
}

function ref(n: ChunkserverNode): ChunkserverRef {
  return { id: n.id, address: n.address, rack: n.rack };
}

/** How long a follower read waits for this master to apply up to the client's index before redirecting. */
const FOLLOWER_READ_WAIT_MS = 500;

/**
 * The master's logic between the RPC shells and the state: reads answer from the local
 * database (after a read barrier unless stale_ok, or once applied up to min_index on a
 * follower); writes are stamped (times, defaults, lease expiries) and proposed to the
 * CommandLog. Soft state (chunkservers, replica locations, the replication queue) lives
 * only here, on every master: chunkservers report to all of them (HDFS standby NameNodes),
 * so a follower knows node health and replica locations, and a new leader serves at once.
 * Only the leader gives commands (copies, deletes), holds chunk leases and uses safe mode.
 */
export class Master {
  readonly registry = new ChunkserverRegistry();
  readonly safeMode: SafeMode;
  readonly replication: ReplicationMonitor;
  /** fsck, decommission, balance (cluster/operations.ts). */
  readonly operations: ClusterOperations;
  readonly chunkLeases: ChunkLeases;
  /** After a restore from a metadata backup: replicas written after the backup (cluster/set-aside.ts). */
  readonly setAside = new SetAsideReplicas();
  private leader = false;
  /** A SetClusterId proposal in flight (the first leader names the cluster once). */
  private namingCluster = false;
  private scanCursor = 0;
  private gcIter: Iterator<number> | undefined;
  private lastTrashCheck = 0;
  private ticking = false;
  /** When leadership last changed to this node (a leader from the start has no grace period). */
  private leaderSince = -Infinity;
  /** Signs and verifies people's bearer tokens with the cluster key (auth/tokens.ts). */
  readonly tokens: TokenService;
  /** Signs chunk access tokens with the key ring in the Raft state (auth/chunk-tokens.ts). */
  readonly chunkTokens: ChunkTokenIssuer;

  constructor(
    private readonly store: MetadataStore,
    private readonly log: CommandLog,
    private readonly clock: Clock,
    readonly config: MasterConfig,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.tokens = new TokenService({
      signingKey: () => this.store.authKey(),
      isRevoked: (jti) => this.store.isTokenRevoked(jti),
    });
    this.chunkTokens = new ChunkTokenIssuer(() => this.store.chunkKeys(), config.chunkTokens);
    this.safeMode = new SafeMode({ threshold: config.safeModeThreshold, timeoutMs: config.safeModeMs });
    this.chunkLeases = new ChunkLeases(config.leaseMs);
    this.replication = new ReplicationMonitor(
      this.registry,
      (h) => this.store.chunkFacts(h),
      () => this.mayDelete(),
      { ...config.replication, minFreeBytes: config.replication.minFreeBytes || config.chunkSize },
      random,
      () => this.leader,
      (e) => this.logCopy(e),
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

  /**
   * Repair decisions: each copy scheduled or done is routine (debug: a lost node means one
   * line per chunk); any other end (failed, superseded, lost, timed out, dropped) is what
   * explains a chunk that stays under-replicated (info).
   */
  private logCopy(e: CopyEvent): void {
    const fields = { handle: e.handle, target: e.target, source: e.source, ...(e.move ? { move: true } : {}), ageMs: this.clock.now() - e.startedAt };
    if (e.kind === 'scheduled') this.logger.debug(fields, 'copy scheduled');
    else if (e.kind === 'done') this.logger.debug(fields, 'copy done');
    else this.logger.info(fields, `copy ${e.kind}: chunk re-checked`);
  }

  /**
   * Until a new leader has applied every entry committed before its term (its first read
   * barrier waits for that), its state may not yet know a chunk the old leader allocated,
   * whose replicas the chunkservers already hold: it deletes nothing until then, or it would
   * take them for garbage (HDFS postpones "blocks from the future" on failover for the same reason).
   * One object per attempt: set while the barrier is pending, `done` once it resolved; a
   * barrier that resolves after leadership moved on finds another object (or none) here.
   */
  private catchUpState: { done: boolean } | undefined;

  /**
   * Deleting a replica cannot be undone, so it is ordered only from a view no other leader
   * can have overtaken: caught up, out of safe mode, and within the Raft leader lease. The
   * lease check stops a leader that was stalled (SIGSTOPped) and deposed meanwhile from
   * ordering deletions from its stale state in the moment before it learns the new term;
   * chunkservers also refuse orders of a lower term than one they obeyed (master-link).
   */
  private mayDelete(): boolean {
    return this.leader && this.catchUpState?.done === true && !this.safeMode.isActive() && this.log.holdsLease();
  }

  private catchUp(): void {
    const attempt = { done: false };
    this.catchUpState = attempt;
    this.log.readBarrier().then(
      () => {
        if (this.catchUpState === attempt) attempt.done = true;
      },
      () => {
        // Lost leadership, or shutting down; tick() tries again while leading.
        if (this.catchUpState === attempt) this.catchUpState = undefined;
      },
    );
  }

  /**
   * The registry and the replication queue are kept: as a follower this node heard every
   * chunkserver. Safe mode counts what it already knows, so a warm view leaves it at once;
   * only a cold one (a restarted master no chunkserver has reached yet) waits for reports.
   * Copies and deletes the old leader handed out are not ours to track: they are dropped.
   */
  private becomeLeader(): void {
    this.catchUp();
    this.chunkLeases.clear();
    this.replication.clearCommands();
    this.operations?.clear();
    this.leader = true;
    this.scanCursor = 0;
    this.gcIter = undefined;
    const now = this.clock.now();
    this.safeMode.enter(now, this.store.committedChunkCount());
    // Chunks with a replica on a live node, as this view knows them (garbage replicas are few:
    // the GC removes them); a cold view knows none.
    this.safeMode.noteKnown(this.registry.liveNodes().length > 0 ? this.registry.handleCount() : 0);
    const left = this.safeMode.update(now); // an empty namespace, or a warm view, has nothing to wait for
    this.operations?.resumeBalancer(this.store.balancerThreshold());
    this.logger.info(
      { safeMode: this.safeMode.status(), chunkservers: this.registry.liveNodes().length },
      left || !this.safeMode.isActive() ? 'became leader: serving at once from the view kept as a follower' : 'became leader: in safe mode until chunk reports arrive',
    );
  }

  private stepDown(): void {
    this.chunkLeases.clear();
    this.leader = false;
    this.catchUpState = undefined;
    this.replication.clearCommands();
    this.operations?.clear();
    this.logger.info('no longer leader: commands and leases dropped; the registry is kept as a follower view');
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

  /**
   * stale_ok: answer from whatever is applied. min_index (follower read, HDFS observer
   * reads): answer once this master has applied at least that far — the client's own
   * writes are then visible — else redirect to the leader. Otherwise: leader + ReadIndex.
   */
  private async beforeRead(staleOk: boolean, minIndex = 0): Promise<void> {
    if (staleOk) return;
    if (minIndex > 0 && !this.isLeader()) {
      if (await this.store.whenApplied(minIndex, FOLLOWER_READ_WAIT_MS)) return;
      const leader = this.log.leaderAddress();
      throw new DfsError(ErrorCode.NOT_LEADER, `follower ${this.config.id} has applied ${this.store.appliedIndex()} < ${minIndex}${leader ? `; leader is ${leader}` : ''}`, { leader });
    }
    this.requireLeader();
    await this.log.readBarrier();
  }

  /** The index every answer carries (header dfs-applied-index): what a client's next follower read waits for. */
  appliedIndex(): number {
    return this.store.appliedIndex();
  }

  /**
   * A cold new leader (restarted, no chunkserver has reached it yet) knows no chunkserver
   * (soft state, GFS §2.6): for a grace period after a leadership change, "not enough
   * chunkservers" is UNAVAILABLE, which clients retry, rather than a final answer. A leader
   * that was a follower already heard them all and is not affected.
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

  async createFile(req: CreateFileRequest, caller: Caller = SUPERUSER): Promise<CreateFileResponse> {
    const path = normalizePath(req.path);
    if (!req.clientId) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    const now = this.clock.now();
    const replication = req.replication || this.config.defaultReplication;
    const chunkSize = req.chunkSize || this.config.chunkSize;
    // Placement before proposing, as AddChunk does: no log entry for a chunk that cannot be placed.
    // If it cannot be placed now, the file is still created and the writer's AddChunk retries.
    const inlineData = req.inline ? (req.inlineData ?? Buffer.alloc(0)) : undefined;
    if (inlineData && inlineData.length > MAX_INLINE_BYTES) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, `inline data of ${inlineData.length} bytes (at most ${MAX_INLINE_BYTES})`);
    }
    let targets: ChunkserverNode[] = [];
    if (req.allocateFirstChunk && !inlineData) {
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
      caller,
      ...(inlineData ? { inline: Buffer.from(inlineData).toString('base64') } : {}),
      ...(req.replacesInode ? { replaces: req.replacesInode } : {}),
    });
    if (!firstChunk) return { file, firstChunk: undefined };
    await this.ensureChunkKey();
    if (targets[0]) this.chunkLeases.grant(firstChunk.handle, targets[0].id, firstChunk.version, req.clientId, now);
    return {
      file,
      firstChunk: this.writeLocation(firstChunk.handle, firstChunk.version, 0, targets, caller),
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

  /** A new chunk's location for its writer, with a write token naming the pipeline. */
  private writeLocation(handle: number, version: number, offset: number, targets: ChunkserverNode[], caller: Caller): ChunkLocation {
    const replicas = targets.map(ref);
    const token = this.chunkTokens.issue({ handle, version, ops: ['write'], nodes: replicas.map((r) => r.id), user: caller.user }, this.clock.now());
    return { handle, version, offset, length: 0, crc32c: 0, replicas, token };
  }

  async addChunk(req: AddChunkRequest, caller: Caller = SUPERUSER): Promise<AddChunkResponse> {
    this.requireLeader();
    await this.ensureChunkKey();
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
      return this.writeLocation(c.handle, c.version, c.offset, t, caller);
    });
    return { chunk: this.writeLocation(r.handle, r.version, r.offset, targets, caller), more };
  }

  async abandonChunk(req: AbandonChunkRequest): Promise<AbandonChunkResponse> {
    const now = this.clock.now();
    await this.propose({
      type: 'AbandonChunk', inode: req.inode, clientId: req.clientId, handle: req.handle, now, leaseExpiry: this.leaseExpiry(now),
      ...(req.wholeFile ? { wholeFile: true } : {}),
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
  async appendFile(req: AppendFileRequest, caller: Caller = SUPERUSER): Promise<AppendFileResponse> {
    this.requireLeader();
    if (!req.clientId) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    const path = normalizePath(req.path);
    refuseSnapshotPath(pathComponents(path), path); // a snapshot's file shares its inode id with the live one
    const before = this.store.stat(path, caller);
    if (before.type !== FileType.FILE) throw new DfsError(before.type === FileType.DIRECTORY ? ErrorCode.IS_A_DIRECTORY : ErrorCode.INVALID_ARGUMENT, `not a regular file: ${before.path}`);
    // Refused before proposing, as the apply would refuse it: an inline append costs no Raft round for nothing.
    if (this.store.isInline(before.inode)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${before.path} is kept inline: rewrite it to append`);
    const now = this.clock.now();
    const { file, version } = await this.propose<OpenAppendResult>({
      type: 'OpenAppend', inode: before.inode, clientId: req.clientId, now, leaseExpiry: this.leaseExpiry(now), caller,
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
      // The mutation's token: the granted version, bound to the primary's chunk lease.
      last.token = this.chunkTokens.issue(
        { handle: last.handle, version, ops: ['write'], nodes: last.replicas.map((r) => r.id), user: caller.user, leaseExpiryMs },
        now,
      );
    }
    return { file, chunks, version, leaseExpiryMs };
  }

  async renewLease(req: RenewLeaseRequest): Promise<RenewLeaseResponse> {
    if (!req.clientId) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'client_id is required');
    const now = this.clock.now();
    const hardLimit = Math.max(this.config.leaseHardLimitMs, this.config.leaseMs);
    await this.propose({ type: 'RenewLease', clientId: req.clientId, now, leaseExpiry: this.leaseExpiry(now), hardLimit });
    this.chunkLeases.renewClient(req.clientId, now, (h) => this.store.leaseExpiryOfChunk(h));
    return {};
  }

  async getFile(req: GetFileRequest, caller: Caller = SUPERUSER): Promise<GetFileResponse> {
    await this.beforeRead(req.staleOk, req.minIndex);
    const { file, chunks, inline } = this.store.getFile(req.path, caller);
    if (inline) return { file, chunks: [], inline: true, inlineData: inline };
    if (chunks.length > 0) await this.ensureChunkKey();
    let offset = 0;
    const now = this.clock.now();
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
      loc.token = this.chunkTokens.issue({ handle: c.handle, version: c.version, ops: ['read'], nodes: loc.replicas.map((r) => r.id), user: caller.user }, now);
      return loc;
    });
    // A follower learns a new chunk's replicas from the chunkservers' next heartbeat: until
    // then a follower read of it goes to the leader, which learned them from CompleteFile.
    if (req.minIndex && !this.isLeader() && out.some((c) => c.replicas.length === 0 && c.length > 0)) {
      const leader = this.log.leaderAddress();
      throw new DfsError(ErrorCode.NOT_LEADER, `follower ${this.config.id} knows no replica of a chunk of ${file.path} yet${leader ? `; leader is ${leader}` : ''}`, { leader });
    }
    return { file, chunks: out };
  }

  async stat(req: StatRequest, caller: Caller = SUPERUSER): Promise<StatResponse> {
    await this.beforeRead(req.staleOk, req.minIndex);
    if (!req.withInline) return { file: this.store.stat(req.path, caller) };
    const { file, inline } = this.store.statWithInline(req.path, caller);
    return inline ? { file, inlineData: inline } : { file };
  }

  async list(req: ListRequest, caller: Caller = SUPERUSER): Promise<ListResponse> {
    await this.beforeRead(req.staleOk, req.minIndex);
    return this.store.list(req.path, req.startAfter, req.limit, caller);
  }

  async mkdir(req: MkdirRequest, caller: Caller = SUPERUSER): Promise<MkdirResponse> {
    const { dir } = await this.propose<{ dir: FileStatus }>({
      type: 'Mkdir', path: normalizePath(req.path), parents: req.parents, mode: req.mode || 0o755, now: this.clock.now(), ...opIdOf(req), caller,
    });
    return { dir };
  }

  async delete(req: DeleteRequest, caller: Caller = SUPERUSER): Promise<DeleteResponse> {
    await this.propose<DeleteResult>({
      type: 'Delete',
      path: normalizePath(req.path),
      recursive: req.recursive,
      skipTrash: req.skipTrash || this.config.trashIntervalMs === 0,
      now: this.clock.now(),
      ...opIdOf(req),
      caller,
    });
    return {};
  }

  async rename(req: RenameRequest, caller: Caller = SUPERUSER): Promise<RenameResponse> {
    await this.propose({
      type: 'Rename', src: normalizePath(req.src), dst: normalizePath(req.dst), overwrite: req.overwrite, now: this.clock.now(), ...opIdOf(req), caller,
    });
    return {};
  }

  // ---- POSIX entries: symlinks, hard links, special files (docs/posix.md; state/posix.ts) ----

  async symlink(req: SymlinkRequest, caller: Caller = SUPERUSER): Promise<SymlinkResponse> {
    return this.propose<{ file: FileStatus }>({ type: 'Symlink', path: normalizePath(req.path), target: req.target, now: this.clock.now(), caller, ...opIdOf(req) });
  }

  async link(req: LinkRequest, caller: Caller = SUPERUSER): Promise<LinkResponse> {
    return this.propose<{ file: FileStatus }>({ type: 'Link', src: normalizePath(req.src), dst: normalizePath(req.dst), now: this.clock.now(), caller, ...opIdOf(req) });
  }

  async mknod(req: MknodRequest, caller: Caller = SUPERUSER): Promise<MknodResponse> {
    // Bounded before it becomes a command (the apply checks the rest: type, mode, who may).
    if (!Number.isSafeInteger(req.rdev) || req.rdev < 0 || req.rdev > 0xffff_ffff) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `bad device number ${req.rdev}`);
    if (!Number.isSafeInteger(req.type) || req.type < 0 || !Number.isSafeInteger(req.mode) || req.mode < 0) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'bad mknod type or mode');
    return this.propose<{ file: FileStatus }>({
      type: 'Mknod', path: normalizePath(req.path), kind: req.type, mode: req.mode, rdev: req.rdev, now: this.clock.now(), caller, ...opIdOf(req),
    });
  }

  // ---- users: attributes, quotas, replication, identity (docs/permissions.md) ----

  async setAttr(req: SetAttrRequest, caller: Caller = SUPERUSER): Promise<SetAttrResponse> {
    const { file } = await this.propose<{ file: FileStatus }>({
      type: 'SetAttr',
      path: normalizePath(req.path),
      ...(req.mode !== undefined ? { mode: req.mode } : {}),
      ...(req.owner !== undefined ? { owner: req.owner } : {}),
      ...(req.group !== undefined ? { group: req.group } : {}),
      ...(req.mtimeMs !== undefined ? { mtime: nonNegative(req.mtimeMs, 'mtime') } : {}),
      ...(req.atimeMs !== undefined ? { atime: nonNegative(req.atimeMs, 'atime') } : {}),
      now: this.clock.now(),
      caller,
      ...opIdOf(req),
    });
    return { file };
  }

  async setQuota(req: SetQuotaRequest, caller: Caller = SUPERUSER): Promise<SetQuotaResponse> {
    await this.propose({
      type: 'SetQuota',
      path: normalizePath(req.path),
      ...(req.files !== undefined ? { files: req.files } : {}),
      ...(req.space !== undefined ? { space: req.space } : {}),
      clear: req.clear,
      now: this.clock.now(),
      caller,
    });
    return {};
  }

  async contentSummary(req: ContentSummaryRequest, caller: Caller = SUPERUSER): Promise<ContentSummaryResponse> {
    await this.beforeRead(false);
    const { usage, quota } = this.store.contentSummary(req.path, caller);
    return {
      files: usage.files,
      directories: usage.dirs,
      length: usage.length,
      spaceConsumed: usage.space,
      nameQuota: quota?.files ?? -1,
      spaceQuota: quota?.space ?? -1,
    };
  }

  /** setrep: the new target is in the log; the replication monitor then copies or trims. */
  async setReplication(req: SetReplicationRequest, caller: Caller = SUPERUSER): Promise<SetReplicationResponse> {
    const { file } = await this.propose<{ file: FileStatus; previous: number }>({
      type: 'SetReplication', path: normalizePath(req.path), replication: req.replication, now: this.clock.now(), caller,
    });
    for (const c of this.store.chunksOf(file.inode)) if (c.committed) this.replication.check(c.handle);
    return { file };
  }

  /** Every snapshot as this master has applied it (the status page). */
  snapshotList(): Array<{ path: string; name: string; createdMs: number; files: number; bytes: number }> {
    return this.store.snapshots(undefined).map(snapshotInfo);
  }

  /** `dfs snapshot allow|disallow|create|delete|list|diff` (state/snapshots.ts). */
  async snapshot(req: SnapshotRequest, caller: Caller = SUPERUSER): Promise<SnapshotResponse> {
    const now = this.clock.now();
    const path = req.path ? normalizePath(req.path) : '';
    const needPath = (): string => {
      if (!path) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `snapshot ${req.op}: a directory is required`);
      return path;
    };
    switch (req.op) {
      case 'allow':
      case 'disallow':
        await this.propose({ type: 'AllowSnapshot', path: needPath(), allow: req.op === 'allow', now, caller });
        return { snapshots: [], diff: [], snapshottable: [] };
      case 'create': {
        // HDFS's default name: s<yyyyMMdd-HHmmss.SSS> (UTC).
        const name = req.name || `s${new Date(now).toISOString().replace(/[-:]/g, '').replace('T', '-').replace('Z', '')}`;
        await this.propose({ type: 'CreateSnapshot', path: needPath(), name, now, ...opIdOf(req), caller });
        return { snapshots: this.store.snapshots(path, caller).filter((s) => s.name === name).map(snapshotInfo), diff: [], snapshottable: [] };
      }
      case 'delete':
        if (!req.name) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'snapshot delete: a snapshot name is required');
        await this.propose({ type: 'DeleteSnapshot', path: needPath(), name: req.name, now, ...opIdOf(req), caller });
        return { snapshots: [], diff: [], snapshottable: [] };
      case 'list':
        await this.beforeRead(req.staleOk);
        return {
          snapshots: this.store.snapshots(path || undefined, caller).map(snapshotInfo),
          diff: [],
          snapshottable: path ? [] : this.store.snapshottableDirs(),
        };
      case 'diff':
        if (!req.name) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'snapshot diff: FROM is required');
        await this.beforeRead(req.staleOk);
        return { snapshots: [], diff: this.store.snapshotDiff(needPath(), req.name, req.toName || undefined, caller).map((d) => ({ kind: d.kind, path: d.path, target: d.target ?? '' })), snapshottable: [] };
      default:
        throw new DfsError(ErrorCode.INVALID_ARGUMENT, `snapshot: unknown op ${JSON.stringify(req.op)} (allow, disallow, create, delete, list, diff)`);
    }
  }

  whoAmI(caller: Caller, via: CallerSource): WhoAmIResponse {
    return { user: caller.user, groups: caller.groups, superuser: caller.superuser, via };
  }

  async createToken(req: CreateTokenRequest, caller: Caller = SUPERUSER): Promise<CreateTokenResponse> {
    this.requireLeader();
    if (!caller.superuser) throw new DfsError(ErrorCode.PERMISSION_DENIED, `permission denied: user=${caller.user}, access=SUPERUSER (token create)`);
    if (!this.store.authKey()) {
      const key = newSigningKey();
      await this.propose({ type: 'SetAuthKey', id: key.id, secret: key.secret, now: this.clock.now() });
    }
    const { token, jti, expiresMs } = await this.tokens.issue(req.user, req.groups, Number(req.ttlMs), this.clock.now());
    this.logger.info({ user: req.user, groups: req.groups, tokenId: jti, expiresMs, by: caller.user }, 'token issued');
    return { token, tokenId: jti, expiresMs };
  }

  async revokeToken(req: RevokeTokenRequest, caller: Caller = SUPERUSER): Promise<RevokeTokenResponse> {
    this.requireLeader();
    if (!caller.superuser) throw new DfsError(ErrorCode.PERMISSION_DENIED, `permission denied: user=${caller.user}, access=SUPERUSER (token revoke)`);
    const now = this.clock.now();
    let jti = req.token;
    let expiry = now + MAX_TOKEN_TTL_MS;
    if (req.token.includes('.')) {
      const t = await this.tokens.inspect(req.token, { allowExpired: true });
      jti = t.jti;
      expiry = t.expiresMs;
    } else if (!/^[A-Za-z0-9_-]{1,128}$/.test(req.token)) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'revoke: give the token or its id');
    }
    await this.propose({ type: 'RevokeToken', jti, expiry, now });
    return { tokenId: jti };
  }

  async reportBadReplica(req: ReportBadReplicaRequest): Promise<ReportBadReplicaResponse> {
    this.requireLeader();
    this.logger.warn({ handle: req.handle, chunkserver: req.chunkserverId, reason: req.reason }, 'bad replica reported');
    this.replication.onCorrupt(req.chunkserverId, req.handle);
    return {};
  }

  /**
   * The leader's view (the one that gives commands). A follower that knows the leader
   * redirects; during an election it answers with what it has, so `dfs admin report` still
   * shows the Raft group. A follower's own view is on its status page.
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
    checkNodeId(req.id, 'master id');
    checkAddress(req.address, 'master address');
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
    const max = req.maxProblems || 1000;
    return { ...this.operations.fsck(req), setAside: this.setAside.list(max), setAsideOmitted: Math.max(0, this.setAside.count() - max) };
  }

  decommission(req: DecommissionRequest): DecommissionResponse {
    this.requireLeader();
    return this.operations.decommission(req);
  }

  async balance(req: BalanceRequest): Promise<BalanceResponse> {
    this.requireLeader();
    const status = this.operations.balance(req);
    await this.recordBalancerRun();
    return status;
  }

  /** The balancer's run state goes into the log (a run survives a leader change), only when it changed. */
  private async recordBalancerRun(): Promise<void> {
    const want = this.operations.balancerRunState();
    if (want === Math.round(this.store.balancerThreshold() * 1000)) return;
    await this.propose({ type: 'SetBalancer', thresholdMilli: want });
  }

  // ---- chunkservers (ChunkserverControlService) ----

  /** Every master takes registrations and heartbeats (each keeps its own view); only the leader answers with commands. */
  async register(req: RegisterRequest): Promise<RegisterResponse> {
    if (!req.id || !req.address) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'register: id and address are required');
    this.replication.forgetNode(req.id);
    this.setAside.forgetNode(req.id); // a full report replaces what the node held
    const node = this.registry.register(req, this.clock.now());
    for (const r of req.replicas) this.noteReplica(node.id, r);
    const leader = this.isLeader();
    this.logger.info({ chunkserver: node.id, address: node.address, rack: node.rack, replicas: req.replicas.length, leader }, 'chunkserver registered');
    return { leaderAddress: this.log.leaderAddress() ?? '', leader, chunkKeys: keysForChunkservers(this.store.chunkKeys(), this.clock.now()) };
  }

  async heartbeat(req: HeartbeatRequest): Promise<HeartbeatResponse> {
    const leader = this.isLeader();
    const term = leader ? this.log.status().term : 0;
    const beat = this.registry.heartbeat(req, this.clock.now());
    // Only an authenticated chunkserver gets here, under its own id (access.ts): it gets the key ring.
    const chunkKeys = keysForChunkservers(this.store.chunkKeys(), this.clock.now());
    if (beat.kind === 'unknown') return { reregister: true, deleteHandles: [], replicate: [], leader, chunkKeys, term };
    if (beat.kind === 'late') {
      // Sent before a heartbeat already applied or before the node registered again, and given up
      // on by it: its deletes, reports, copy count and load are out of date, and commands in this
      // answer would be lost (they stay queued for its next heartbeat). From an earlier
      // registration, the node is told to register again: unread if it registered since, and if
      // this master applied an older registration delivered late, that is what repairs it.
      const { node, why } = beat;
      this.logger.info({ chunkserver: node.id, why, registration: req.registration, seq: req.seq, current: node.registration, applied: node.heartbeatSeq }, 'late heartbeat ignored');
      return { reregister: why === 'old-registration', deleteHandles: [], replicate: [], leader, chunkKeys, term, ignored: true };
    }
    const { node } = beat;
    if (leader && req.activeWrites > 0) this.chunkLeases.renewPrimary(node.id, this.clock.now());
    // Deletions first: a replica deleted and then copied back is reported in both lists.
    for (const h of req.deletedHandles ?? []) {
      this.replication.onDeleted(node.id, h);
      this.setAside.forget(node.id, h);
    }
    const late = req.newReplicas.filter((r) => !this.noteReplica(node.id, r));
    if (late.length > 0) {
      this.logger.info({ chunkserver: node.id, replicas: late.length, handles: late.slice(0, 5).map((r) => r.handle) }, 'replica reports older than ones already recorded ignored: a heartbeat delivered late');
    }
    for (const h of req.corruptHandles) this.replication.onCorrupt(node.id, h);
    for (const h of req.failedCopies ?? []) this.replication.onCopyFailed(node.id, h);
    // After the reports: a copy it was handed and neither runs nor reported is re-planned.
    this.replication.onTargetHeartbeat(node.id, req.inflightCopies);
    if (!leader) {
      // The leader's decommission mark, as the node repeats it: this view shows the drain too.
      if (req.decommissioning !== undefined && req.decommissioning !== this.registry.isDraining(node.id)) {
        this.registry.setDecommission(node.id, req.decommissioning);
      }
      return { reregister: false, deleteHandles: [], replicate: [], leader, chunkKeys, term };
    }
    this.operations.noteCapacity(node);
    // A finished copy frees a throttle slot: hand out the next one now rather than a tick later.
    if (!this.safeMode.isActive() && this.replication.queueLength() > 0) this.replication.plan(this.clock.now());
    const { deleteHandles, replicate } = this.replication.takeCommands(node.id);
    if (replicate.length > 0) await this.ensureChunkKey();
    // Each copy carries a token for the source's ReadChunk and ChunkInfo, naming source and target.
    const now = this.clock.now();
    for (const r of replicate) {
      if (r.source) r.token = this.chunkTokens.issue({ handle: r.handle, version: r.version, ops: ['copy'], nodes: [r.source.id, node.id], user: node.id }, now);
    }
    return { reregister: false, deleteHandles, replicate, decommission: node.state === 'decommissioning' || node.state === 'decommissioned', leader, chunkKeys, term };
  }

  /**
   * One reported replica: record it, count it for safe mode, delete it if garbage or stale.
   * False when the report is older than what the node already told us of that replica: a
   * node's replica never goes back a version while it exists (its store refuses older writes;
   * a delete or corrupt report removes it here first), so a lower version is a heartbeat the
   * node gave up on at its deadline and the network delivered later, after newer reports or
   * a re-registration. Taken as news, it would make a current replica look stale: deleted
   * as such, or picked as a copy target that already holds the chunk and has nothing to report.
   * A numbered late heartbeat never gets here (heartbeat() drops it whole); this still guards
   * against one from a chunkserver that does not number its heartbeats.
   */
  private noteReplica(nodeId: string, r: ReplicaReport): boolean {
    const info = infoOf(r);
    if (this.replication.isCorrupt(nodeId, r.handle)) {
      this.registry.removeReplica(nodeId, r.handle); // known bad: never served, deleted once replaced
      return true;
    }
    const known = this.registry.replicaOn(nodeId, r.handle);
    if (known && info.version < known.version) return false;
    const range = this.store.restoredRange();
    if (range) {
      const after = afterBackup(r.handle, info.version, this.store.chunkFacts(r.handle), range);
      if (after) this.setAside.note(nodeId, r.handle, info, after);
      if (after === 'newer-chunk') {
        // Written after the backup this group was restored from: neither served nor deleted.
        this.registry.removeReplica(nodeId, r.handle);
        return true;
      }
    }
    this.registry.addReplica(nodeId, r.handle, info);
    const verdict = this.replication.verdict(r.handle, info);
    if (verdict === 'garbage' || verdict === 'stale') {
      if (verdict === 'stale') {
        // GFS §4.5: it missed a mutation while it was away; never listed for reads, deleted.
        this.logger.info({ chunkserver: nodeId, handle: r.handle, version: r.version, current: this.store.chunkFacts(r.handle)?.version }, 'stale replica reported');
      }
      this.replication.onCopySuperseded(nodeId, r.handle);
      this.replication.scheduleDelete(nodeId, r.handle); // refused in safe mode; the GC scan retries
      return true;
    }
    this.replication.onReplicaReported(nodeId, r.handle);
    if (verdict === 'ok') {
      this.safeMode.noteReplica(r.handle);
      if (!this.safeMode.isActive()) this.replication.check(r.handle);
    }
    return true;
  }

  // ---- background work, driven by the server's timer (tests call it directly) ----

  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.clock.now();
      // A stalled master (event loop blocked, process paused) must not declare every node dead
      // for its own silence: time it could not hear heartbeats in is not counted against them.
      this.registry.forgiveStall(now, this.config.deadAfterMs);
      for (const { node, handles } of this.registry.expire(now, this.config.deadAfterMs)) {
        this.logger.warn({ chunkserver: node.id, replicas: handles.length, leader: this.isLeader() }, 'chunkserver declared dead');
        this.replication.forgetNode(node.id);
        this.replication.forgetCorruptOn(node.id);
        for (const h of handles) this.replication.check(h);
      }
      if (!this.isLeader()) {
        // A follower keeps its view true (queue, drain states) for its status page and for
        // the day it leads; it decides nothing.
        this.scanChunks();
        this.operations.tick(now);
        return;
      }
      if (!this.catchUpState) this.catchUp();
      await this.nameCluster();
      // Tokens are needed in safe mode too (reads): the key ring comes first.
      await this.rotateChunkKeys(now);
      if (this.safeMode.update(now)) {
        this.logger.info({ safeMode: this.safeMode.status() }, 'left safe mode');
        this.scanCursor = 0;
      }
      if (this.safeMode.isActive()) return;
      this.scanChunks();
      this.collectGarbage();
      this.replication.plan(now);
      this.operations.tick(now);
      await this.recordBalancerRun();
      await this.recoverLeases(now);
      await this.checkpointTrash(now);
    } finally {
      this.ticking = false;
    }
  }

  private keyProposal: Promise<void> | undefined;

  /**
   * Before handing out tokens: a leader whose ring has no usable key (a new cluster, before
   * the first tick) proposes one at once; a follower without one answers UNAVAILABLE from
   * the issuer, which clients retry.
   */
  private async ensureChunkKey(): Promise<void> {
    const now = this.clock.now();
    if (signingKeyOf(this.store.chunkKeys(), now, this.chunkTokens.cfg.ttlMs) || !this.isLeader()) return;
    this.keyProposal ??= this.rotateChunkKeys(now).finally(() => (this.keyProposal = undefined));
    await this.keyProposal;
  }

  /** The leader keeps the chunk-token key ring fresh (auth/chunk-tokens.ts). */
  private async rotateChunkKeys(now: number): Promise<void> {
    const cmd = planChunkKey(this.store.chunkKeys(), now, this.chunkTokens.cfg);
    if (!cmd) return;
    const r = await this.propose<{ added: boolean; retired: number }>(cmd);
    this.logger.info({ key: cmd.id, activeFrom: new Date(cmd.activeFrom).toISOString(), retired: r.retired }, 'chunk token key added');
  }

  /** The cluster's identity (12 hex digits), once its first leader named it. */
  clusterId(): string | undefined {
    return this.store.clusterId();
  }

  /** The first leader gives the cluster its identity (named in metadata backups). */
  private async nameCluster(): Promise<void> {
    if (this.namingCluster || this.store.clusterId() !== undefined) return;
    this.namingCluster = true;
    try {
      await this.propose({ type: 'SetClusterId', id: Math.floor(this.random() * 2 ** 48) });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'naming the cluster failed; retried next tick');
    } finally {
      this.namingCluster = false;
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
