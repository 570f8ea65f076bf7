import { mkdirSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import { Server } from '@grpc/grpc-js';
import {
  ChunkserverControlServiceService,
  DEFAULT_CHUNK_SIZE,
  DfsError,
  ErrorCode,
  MasterServiceService,
  serverOptions,
  checkNodeId,
  shutdownServer,
  splitHostPort,
  isWildcardHost,
  joinHostPort,
} from '@dfs/proto';
import { logRefusedHandshakes, serverCredentials, type Security } from '@dfs/security';
import { systemClock, type Clock } from './clock.js';
import type { CommandLog, CommandLogContext, MasterPeer } from './command-log.js';
import { chunkserverControlHandlers, masterServiceHandlers } from './grpc-service.js';
import { startHttpStatus } from './http-status.js';
import { createLogger, instrumentService, type HttpTls } from '@dfs/telemetry';
import { EventLog, StatusWatcher } from './observability/events.js';
import { createMasterMetrics } from './observability/metrics.js';
import { Master, defaultMasterConfig, type MasterConfig } from './master.js';
import { RaftCommandLog, type RaftCommandLogOptions } from './raft-command-log.js';
import { MetadataStore } from './state/metadata-store.js';
import { AuditLog } from './observability/audit-log.js';
import { MetadataBackups, type ScheduledBackups } from './backup/backups.js';

export interface MasterOptions {
  id: string;
  dir: string;
  /** host:port; port may be 0 (the bound address is in RunningMaster.address). */
  listen: string;
  /**
   * host:port other processes dial (host names welcome). Default: this master's entry in
   * `peers`, else the bound address. Required when `listen` binds every interface.
   */
  advertise?: string;
  /** Mutual TLS from a credentials directory, or plaintext (--insecure): every gRPC service and the Raft streams. */
  security: Security;
  http?: string;
  /** Serve the HTTP status page and /metrics over TLS with this certificate. */
  httpTls?: HttpTls;
  /** Every master of the group, this one included. */
  peers?: MasterPeer[];
  chunkSize?: number;
  defaultReplication?: number;
  minReplicas?: number;
  deadAfterMs?: number;
  leaseMs?: number;
  /** Renewals keep a file's lease at most this long past its last progress (default 1 h). */
  leaseHardLimitMs?: number;
  /** 0 disables the trash. */
  trashIntervalMs?: number;
  safeModeMs?: number;
  /** Chunk access tokens: lifetime (default 10 min) and key rotation period (default 1 h). */
  chunkTokenTtlMs?: number;
  chunkKeyRotationMs?: number;
  logLevel?: string;
  /** Other masters' HTTP addresses by id, so a follower's status page links to the leader's. */
  peerHttp?: Record<string, string>;
  /** The audit log file (default DIR/audit.log); rotated at auditMaxBytes, auditKeep files kept. */
  auditLog?: string;
  auditMaxBytes?: number;
  auditKeep?: number;
  /** Background work period (lease recovery, dead nodes, replication, GC, trash). Default 1000. */
  tickMs?: number;
  clock?: Clock;
  /** Raft tuning and `join` for the default command log. */
  raft?: RaftCommandLogOptions;
  /**
   * The consensus seam, for tests: builds another CommandLog once the gRPC server is bound
   * (e.g. a LocalCommandLog, no consensus). Default: Raft over `peers` (or this master alone).
   */
  createCommandLog?: (ctx: CommandLogContext) => CommandLog | Promise<CommandLog>;
  /** Scheduled metadata backups (`--backup-every 1h --backup-dir D --keep 24`) taken by this master. */
  backups?: ScheduledBackups;
}

export interface RunningMaster {
  id: string;
  /** The bound gRPC address (host:port). */
  address: string;
  httpAddress?: string;
  /** The one gRPC server: MasterService, ChunkserverControlService and the Raft service. */
  grpcServer: Server;
  master: Master;
  store: MetadataStore;
  commandLog: CommandLog;
  /** The metadata backups this master takes (on demand and scheduled). */
  backups: MetadataBackups;
  stop(): Promise<void>;
}

export async function startMaster(opts: MasterOptions): Promise<RunningMaster> {
  checkNodeId(opts.id, 'master id');
  const logger = createLogger(opts.id, opts.logLevel);
  const clock = opts.clock ?? systemClock;
  const peers = opts.peers ?? [];
  mkdirSync(opts.dir, { recursive: true });

  const server = new Server(serverOptions());
  const { host } = splitHostPort(opts.listen);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(opts.listen, serverCredentials(opts.security), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const address = advertisedAddress(opts, host, port, peers);
  logRefusedHandshakes(server, (peer, why, suppressed) => logger.warn({ peer, suppressed }, `TLS handshake refused: ${why}`));

  let store: MetadataStore | undefined;
  let commandLog: CommandLog | undefined;
  let http: HttpServer | undefined;
  let audit: AuditLog | undefined;
  let backups: MetadataBackups | undefined;
  try {
    // Behind Raft the Raft log is the durable copy; a test's own log may be the only one.
    store = new MetadataStore(join(opts.dir, 'meta.db'), { synchronous: opts.createCommandLog ? 'FULL' : 'NORMAL' });
    const ctx: CommandLogContext = { id: opts.id, dir: opts.dir, address, peers, stateMachine: store, grpcServer: server, security: opts.security, logger };
    commandLog = opts.createCommandLog ? await opts.createCommandLog(ctx) : await RaftCommandLog.start(ctx, opts.raft);

    const base = defaultMasterConfig(opts.id);
    const config: MasterConfig = {
      ...base,
      chunkSize: opts.chunkSize ?? DEFAULT_CHUNK_SIZE,
      defaultReplication: opts.defaultReplication ?? base.defaultReplication,
      minReplicas: opts.minReplicas ?? base.minReplicas,
      deadAfterMs: opts.deadAfterMs ?? base.deadAfterMs,
      leaseMs: opts.leaseMs ?? base.leaseMs,
      leaseHardLimitMs: positiveMs(opts.leaseHardLimitMs, base.leaseHardLimitMs, 'lease hard limit'),
      trashIntervalMs: opts.trashIntervalMs ?? base.trashIntervalMs,
      safeModeMs: opts.safeModeMs ?? base.safeModeMs,
      chunkTokens: {
        ttlMs: positiveMs(opts.chunkTokenTtlMs, base.chunkTokens.ttlMs, 'chunk token ttl'),
        rotationMs: positiveMs(opts.chunkKeyRotationMs, base.chunkTokens.rotationMs, 'chunk key rotation'),
      },
    };
    const master = new Master(store, commandLog, clock, config, logger);
    const metrics = createMasterMetrics(opts.id, master, commandLog);
    audit = new AuditLog({ path: opts.auditLog ?? join(opts.dir, 'audit.log'), maxBytes: opts.auditMaxBytes, keep: opts.auditKeep });
    backups = new MetadataBackups(store, opts.id, opts.dir, logger.child({ component: 'backup' }));
    if (opts.backups) backups.schedule(opts.backups);
    server.addService(MasterServiceService, instrumentService('MasterService', MasterServiceService, masterServiceHandlers(master, logger, audit, backups), metrics, logger));
    server.addService(
      ChunkserverControlServiceService,
      instrumentService('ChunkserverControlService', ChunkserverControlServiceService, chunkserverControlHandlers(master, logger), metrics, logger),
    );
    const events = new EventLog();
    const watcher = new StatusWatcher(events);
    commandLog.onLeadershipChange((isLeader) => {
      events.add({ atMs: clock.now(), kind: 'leader-changed', message: isLeader ? `${opts.id} became leader` : `${opts.id} stepped down` });
    });

    let httpAddress: string | undefined;
    if (opts.http) {
      const h = await startHttpStatus(opts.http, { master, metrics, events, peerHttp: opts.peerHttp ?? {}, backups }, opts.httpTls);
      http = h.server;
      httpAddress = h.address;
    }

    const timer = setInterval(() => {
      master.tick().catch((err: unknown) => logger.error({ err }, 'background tick failed'));
      if (opts.http) watcher.observe(clock.now(), master.healthSample());
    }, opts.tickMs ?? 1000);
    timer.unref();

    logger.info({ address, http: httpAddress, dir: opts.dir, appliedIndex: store.appliedIndex() }, 'master started');
    let stopped: Promise<void> | undefined;
    const running: RunningMaster = {
      id: opts.id,
      address,
      ...(httpAddress ? { httpAddress } : {}),
      grpcServer: server,
      master,
      store,
      commandLog,
      backups,
      stop: () =>
        (stopped ??= (async () => {
          clearInterval(timer);
          await shutdownServer(server, 2000);
          if (http) await new Promise<void>((r) => http!.close(() => r()));
          await backups!.stop();
          await commandLog!.close();
          await store!.close();
          audit!.close();
          logger.info('master stopped');
        })()),
    };
    return running;
  } catch (err) {
    server.forceShutdown();
    http?.close();
    await backups?.stop();
    await commandLog?.close();
    await store?.close();
    audit?.close();
    throw err;
  }
}
/** What other processes dial: --advertise, else our entry in --peers, else the bound host:port. */
function advertisedAddress(opts: MasterOptions, boundHost: string, port: number, peers: MasterPeer[]): string {
  if (opts.advertise !== undefined) {
    splitHostPort(opts.advertise);
    return opts.advertise;
  }
  const self = peers.find((p) => p.id === opts.id);
  if (self) return self.address;
  if (isWildcardHost(boundHost)) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `master ${opts.id}: --listen ${opts.listen} binds every interface; give --advertise HOST:PORT`);
  }
  return joinHostPort(boundHost, port);
}

/** A duration option: at least a second (a token or key that lives less is useless), at most a week. */
function positiveMs(v: number | undefined, dflt: number, what: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1000 || v > 7 * 24 * 3_600_000) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${what} must be between 1s and 7d, got ${v}ms`);
  return v;
}
