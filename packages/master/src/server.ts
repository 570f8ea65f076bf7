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
  splitHostPort,
  isWildcardHost,
  joinHostPort,
} from '@dfs/proto';
import { logRefusedHandshakes, serverCredentials, type Security } from '@dfs/security';
import { systemClock, type Clock } from './clock.js';
import { LocalCommandLog, type CommandLog } from './command-log.js';
import { chunkserverControlHandlers, masterServiceHandlers } from './grpc-service.js';
import { startHttpStatus } from './http-status.js';
import { instrumentService, type HttpTls } from '@dfs/telemetry';
import { EventLog, StatusWatcher } from './observability/events.js';
import { createMasterMetrics } from './observability/metrics.js';
import { createLogger, type Logger } from './logger.js';
import { Master, defaultMasterConfig, type MasterConfig } from './master.js';
import { MetadataStore } from './state/metadata-store.js';
import type { StateMachine } from './state/state-machine.js';

export interface MasterPeer {
  id: string;
  address: string;
}

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
  /** 0 disables the trash. */
  trashIntervalMs?: number;
  safeModeMs?: number;
  logLevel?: string;
  /** Other masters' HTTP addresses by id, so a follower's status page links to the leader's. */
  peerHttp?: Record<string, string>;
  /** Background work period (lease recovery, dead nodes, replication, GC, trash). Default 1000. */
  tickMs?: number;
  clock?: Clock;
  /**
   * The consensus seam: builds the CommandLog (e.g. Raft) once the gRPC server is bound.
   * Default: a LocalCommandLog (single master), refused when `peers` names other masters.
   */
  createCommandLog?: (ctx: CommandLogContext) => CommandLog | Promise<CommandLog>;
}

/** What a CommandLog factory gets: the state machine to drive and the server to add its service to. */
export interface CommandLogContext {
  id: string;
  dir: string;
  address: string;
  peers: MasterPeer[];
  stateMachine: StateMachine;
  grpcServer: Server;
  security: Security;
  logger: Logger;
}

export interface RunningMaster {
  id: string;
  /** The bound gRPC address (host:port). */
  address: string;
  httpAddress?: string;
  /** The one gRPC server: MasterService, ChunkserverControlService (and later the Raft service). */
  grpcServer: Server;
  master: Master;
  store: MetadataStore;
  commandLog: CommandLog;
  stop(): Promise<void>;
}

export async function startMaster(opts: MasterOptions): Promise<RunningMaster> {
  const logger = createLogger(opts.id, opts.logLevel ?? 'info');
  const clock = opts.clock ?? systemClock;
  const peers = opts.peers ?? [];
  const others = peers.filter((p) => p.id !== opts.id);
  if (others.length > 0 && !opts.createCommandLog) {
    throw new DfsError(
      ErrorCode.INVALID_ARGUMENT,
      `master ${opts.id}: ${others.length} peer(s) given but no replicated command log is wired in yet; ` +
        'running them as independent masters would split the namespace',
    );
  }
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
  try {
    store = new MetadataStore(join(opts.dir, 'meta.db'), { synchronous: opts.createCommandLog ? 'NORMAL' : 'FULL' });
    const sm = store;
    commandLog = opts.createCommandLog
      ? await opts.createCommandLog({ id: opts.id, dir: opts.dir, address, peers, stateMachine: sm, grpcServer: server, security: opts.security, logger })
      : new LocalCommandLog(sm, { id: opts.id, address: () => address });

    const base = defaultMasterConfig(opts.id);
    const config: MasterConfig = {
      ...base,
      chunkSize: opts.chunkSize ?? DEFAULT_CHUNK_SIZE,
      defaultReplication: opts.defaultReplication ?? base.defaultReplication,
      minReplicas: opts.minReplicas ?? base.minReplicas,
      deadAfterMs: opts.deadAfterMs ?? base.deadAfterMs,
      leaseMs: opts.leaseMs ?? base.leaseMs,
      trashIntervalMs: opts.trashIntervalMs ?? base.trashIntervalMs,
      safeModeMs: opts.safeModeMs ?? base.safeModeMs,
    };
    const master = new Master(store, commandLog, clock, config, logger);
    const metrics = createMasterMetrics(opts.id, master, commandLog);
    server.addService(MasterServiceService, instrumentService('MasterService', MasterServiceService, masterServiceHandlers(master, logger), metrics, logger));
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
      const h = await startHttpStatus(opts.http, { master, metrics, events, peerHttp: opts.peerHttp ?? {} }, opts.httpTls);
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
      stop: () =>
        (stopped ??= (async () => {
          clearInterval(timer);
          await shutdownGrpc(server);
          if (http) await new Promise<void>((r) => http!.close(() => r()));
          await commandLog!.close();
          store!.close();
          logger.info('master stopped');
        })()),
    };
    return running;
  } catch (err) {
    server.forceShutdown();
    http?.close();
    await commandLog?.close();
    store?.close();
    throw err;
  }
}

async function shutdownGrpc(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 2000);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
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
