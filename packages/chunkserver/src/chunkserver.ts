import { setMaxListeners } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Server as HttpServer } from 'node:http';
import { Server } from '@grpc/grpc-js';
import {
  DataChunkServiceClient,
  DfsError,
  ErrorCode,
  ChannelPool,
  channelOptions,
  dataChannelOptions,
  rawChunkServiceDefinition,
  checkNodeId,
  serverOptions,
  widenServerWindows,
  installPreframedMessages,
  shutdownServer,
  splitHostPort,
} from '@dfs/proto';
import { ChunkKeyRing, logRefusedHandshakes, serverCredentials, channelCredentials, type Security } from '@dfs/security';
import { measureCapacity } from './capacity.js';
import { ChunkStore } from './chunk-store.js';
import { NOOP_FAULT_INJECTOR, faultInjectorFromEnv, type ChunkserverFaultInjector } from './fault-injector.js';
import { ChunkserverMetrics, startHttpStatus, type StatusSnapshot } from './http-status.js';
import { createLogger, instrumentService, type HttpTls } from '@dfs/telemetry';
import { isWildcardHost, joinHostPort } from '@dfs/proto';
import { MasterLink } from './master-link.js';
import { chunkServiceHandlers } from './grpc-service.js';
import { Replicator } from './replicator.js';
import { Scrubber } from './scrubber.js';
import { Throttle } from './throttle.js';
import { TokenGate } from './token-gate.js';

/**
 * Receive window of a chunkserver's channels to its peers (copies read whole chunks): enough
 * to keep a stream moving, small enough that a slow disk does not buffer a chunk in memory.
 */
const PEER_CHANNEL_WINDOW = 4 * 1024 * 1024;

export interface ChunkserverOptions {
  /** Stable id of this chunkserver (what the master and clients call it). */
  id: string;
  /** Data directory; the chunkserver writes only below it. */
  dir: string;
  /** gRPC listen address host:port (port 0 = ephemeral). */
  listen: string;
  /** host:port clients, masters and other chunkservers dial (host names welcome); default the bound address. */
  advertise?: string;
  /** Mutual TLS from a credentials directory, or plaintext (--insecure): its server, and its calls to masters and peers. */
  security: Security;
  /** Serve the HTTP status page and /metrics over TLS with this certificate. */
  httpTls?: HttpTls;
  /** Optional HTTP status/metrics listen address host:port. */
  http?: string;
  /** Master addresses (host:port); the leader is found among them. */
  masters: string[];
  rack?: string;
  /** Heartbeat period (default 1000 ms). */
  heartbeatMs?: number;
  /** Optional quota in bytes; otherwise capacity is the file system's (statfs of dir). */
  capacityBytes?: number;
  /** Pause between two scrubber passes over every replica (default 1 h; <= 0 disables). */
  scrubIntervalMs?: number;
  /** Scrubber read rate (default 16 MiB/s). */
  scrubBytesPerSec?: number;
  /** Log level (default DFS_LOG_LEVEL, else info; 'silent' for tests). */
  logLevel?: string;
  faultInjector?: ChunkserverFaultInjector;
  /** Free space kept in reserve: reported free = file-system free - reserve (default 128 MiB). */
  reserveBytes?: number;
  /** Re-replication read rate shared by all copies (default 64 MiB/s; 0 = unlimited). */
  copyBytesPerSec?: number;
  /** Copies running at once (default 2). */
  maxConcurrentCopies?: number;
  /** A downstream replica that stalls this long fails the write (default 20 s). */
  pipelineTimeoutMs?: number;
  /** A write stream that sends nothing this long is cancelled, its partial replica discarded (default 60 s). */
  writeIdleTimeoutMs?: number;
  /** Deadline of each call to a master (default max(2 s, 2 × heartbeat), at most 10 s). */
  masterCallTimeoutMs?: number;
}

export interface RunningChunkserver {
  readonly id: string;
  /** The bound gRPC address host:port (the actual port when listen had port 0). */
  readonly address: string;
  readonly httpAddress?: string;
  stop(): Promise<void>;
}

/** Starts a chunkserver: loads its store, serves ChunkService, registers with the master leader. */
export async function startChunkserver(opts: ChunkserverOptions): Promise<RunningChunkserver> {
  checkNodeId(opts.id, 'chunkserver id');
  if (opts.rack !== undefined && opts.rack !== '') checkNodeId(opts.rack, 'rack');
  if (typeof opts.dir !== 'string' || opts.dir === '') throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'chunkserver needs a data directory');
  const listen = parseListen(opts.listen, 'listen');
  const advertise = opts.advertise !== undefined ? parseListen(opts.advertise, 'advertise').text : undefined;
  if (opts.http !== undefined) parseListen(opts.http, 'http');
  const masters = (opts.masters ?? []).map((m) => m.trim()).filter((m) => m !== '');
  for (const m of masters) parseListen(m, 'master');
  const heartbeatMs = positive(opts.heartbeatMs, 1000, 'heartbeatMs');
  const capacityBytes = opts.capacityBytes === undefined ? undefined : positive(opts.capacityBytes, 0, 'capacityBytes');
  const id = opts.id;
  const dir = resolve(opts.dir);
  const fi = opts.faultInjector ?? faultInjectorFromEnv(opts.id) ?? NOOP_FAULT_INJECTOR;

  const log = createLogger(id, opts.logLevel);

  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'pid'), `${process.pid}\n`);

  let link: MasterLink | undefined;
  const store = await ChunkStore.open({
    dir,
    log,
    faultInjector: fi,
    capacityBytes,
    hooks: {
      onCommit: (r) => link?.replicaCommitted(r),
      onCorrupt: (h, reason) => link?.replicaCorrupt(h, reason),
    },
  });

  const abort = new AbortController();
  const signal = abort.signal;
  // The stop signal is shared by every copy and throttle wait in flight, each listening while it
  // runs: more than Node's default of 10 at once is normal, not a leak.
  setMaxListeners(0, signal);
  // ReadChunk answers (copies) decoded with their data as views: DataChunkServiceClient.
  const peers = new ChannelPool((a) => new DataChunkServiceClient(a, channelCredentials(opts.security), { ...channelOptions(), ...dataChannelOptions(PEER_CHANNEL_WINDOW) }));
  const pipelineTimeoutMs = positive(opts.pipelineTimeoutMs, 20_000, 'pipelineTimeoutMs');
  const replicator = new Replicator({
    selfId: id,
    store,
    peers,
    log,
    maxConcurrent: positive(opts.maxConcurrentCopies, 2, 'maxConcurrentCopies'),
    throttle: new Throttle(opts.copyBytesPerSec ?? 64 * 1024 * 1024),
    timeoutMs: pipelineTimeoutMs,
    signal,
    onFinished: (handle, ok) => link?.copyFinished(handle, ok),
    onAlreadyHeld: (r) => link?.replicaCommitted(r),
  });
  const scrubInterval = opts.scrubIntervalMs ?? 3_600_000;
  const scrubber = new Scrubber({
    store,
    log,
    intervalMs: scrubInterval,
    throttle: new Throttle(opts.scrubBytesPerSec ?? 16 * 1024 * 1024),
    signal,
  });

  // Chunk access tokens: the key ring arrives with the masters' answers (master-link.ts).
  const keyRing = new ChunkKeyRing();
  const tokens = new TokenGate(id, keyRing, () => link?.heartbeatNow());
  const handlers = chunkServiceHandlers({
    write: { selfId: id, store, peers, log, pipelineTimeoutMs, tokens, idleTimeoutMs: positive(opts.writeIdleTimeoutMs, 60_000, 'writeIdleTimeoutMs') },
    read: { store, log, stallTimeoutMs: pipelineTimeoutMs * 3, tokens },
    replicator,
    tokens,
  });

  const server = new Server(serverOptions());
  // Metrics read live state through `statusSnapshot`, assigned once everything below exists.
  let statusSnapshot: () => Promise<StatusSnapshot> = async () => { throw new Error('starting'); };
  const csMetrics = new ChunkserverMetrics(id, () => statusSnapshot());
  server.addService(
    rawChunkServiceDefinition,
    instrumentService('ChunkService', rawChunkServiceDefinition, csMetrics.countBytes(handlers), csMetrics.metrics, log),
  );
  let port: number;
  try {
    port = await new Promise<number>((res, rej) =>
      server.bindAsync(listen.text, serverCredentials(opts.security), (err, p) => (err ? rej(err) : res(p))),
    );
  } catch (err) {
    server.forceShutdown();
    peers.close();
    throw new DfsError(ErrorCode.UNAVAILABLE, `chunkserver ${id} cannot listen on ${opts.listen}: ${(err as Error).message}`);
  }
  if (!widenServerWindows(server)) log.warn('cannot widen HTTP/2 flow-control windows (grpc-js internals changed); write throughput will be lower');
  if (!installPreframedMessages()) log.warn('cannot send ReadChunk messages in place (grpc-js internals changed); each is copied once more');
  if (advertise === undefined && isWildcardHost(listen.host)) {
    server.forceShutdown();
    peers.close();
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `chunkserver ${id}: --listen ${opts.listen} binds every interface; give --advertise HOST:PORT`);
  }
  const address = advertise ?? joinHostPort(listen.host, port);
  logRefusedHandshakes(server, (peer, why, suppressed) => log.warn({ peer, suppressed }, `TLS handshake refused: ${why}`));

  const reserveBytes = opts.reserveBytes ?? 128 * 1024 * 1024;
  const capacity = () => measureCapacity(dir, store.usedBytes + store.inflightBytes, capacityBytes, reserveBytes);
  const callTimeoutMs = opts.masterCallTimeoutMs ?? Math.min(10_000, Math.max(2000, 2 * heartbeatMs));
  link = new MasterLink({
    selfId: id,
    security: opts.security,
    address,
    rack: opts.rack ?? '',
    masters,
    heartbeatMs,
    callTimeoutMs,
    store,
    log,
    faultInjector: fi,
    signal,
    capacity,
    inflightCopies: () => replicator.inflight,
    onDelete: (handles) => {
      for (const h of handles) {
        if (!Number.isSafeInteger(h) || h <= 0) {
          log.warn({ handle: h }, 'ignoring delete command with an invalid handle');
          continue;
        }
        store.delete(h).then(
          (existed) => {
            link?.replicaDeleted(h); // every master hears of it (followers keep their view true)
            if (existed) log.info({ handle: h }, 'replica deleted by master');
          },
          (err: unknown) => log.warn({ handle: h, err: String(err) }, 'delete failed'),
        );
      }
    },
    onReplicate: (cmds) => {
      for (const c of cmds) replicator.enqueue({ handle: c.handle, version: c.version, source: c.source, token: c.token ?? '' });
    },
    onChunkKeys: (keys) => keyRing.merge(keys.map((k) => ({ id: k.id, secret: Buffer.from(k.secret), activeFromMs: k.activeFromMs, expiresMs: k.expiresMs })), Date.now()),
  });
  for (const h of store.corruptAtLoad.splice(0)) link.replicaCorrupt(h, 'metadata or data file unreadable at startup');

  let http: { server: HttpServer; address: string } | undefined;
  {
    const snapshot = async (): Promise<StatusSnapshot> => {
      const cap = await capacity();
      return {
        id,
        address,
        rack: opts.rack ?? '',
        leader: link?.leaderAddress ?? null,
        registered: link?.registered ?? false,
        chunks: store.count,
        ...cap,
        activeWrites: store.activeWrites,
        inflightCopies: replicator.inflight,
        scrubber: { ...scrubber.stats },
      };
    };
    statusSnapshot = snapshot;
    if (opts.http !== undefined) {
      try {
        http = await startHttpStatus(opts.http, snapshot, csMetrics.metrics, opts.httpTls);
      } catch (err) {
        server.forceShutdown();
        peers.close();
        throw new DfsError(ErrorCode.UNAVAILABLE, `chunkserver ${id} cannot listen on http ${opts.http}: ${(err as Error).message}`);
      }
    }
  }

  link.start();
  if (scrubInterval > 0) scrubber.start();
  log.info({ address, http: http?.address, dir, masters, rack: opts.rack ?? '', chunks: store.count }, 'chunkserver started');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('chunkserver stopping');
      abort.abort();
      await shutdownServer(server, 1000);
      await Promise.all([link?.stop(), scrubber.stopped()]);
      peers.close();
      if (http) await new Promise<void>((res) => http!.server.close(() => res()));
      // Give cancelled writers a moment to remove their temp files.
      for (let i = 0; i < 50 && store.activeWrites > 0; i++) await new Promise((r) => setTimeout(r, 10));
      log.info('chunkserver stopped');
    })();
    return stopping;
  };

  return { id, address, httpAddress: http?.address, stop };
}

function parseListen(text: unknown, what: string): { host: string; port: number; text: string } {
  try {
    if (typeof text !== 'string') throw new Error('missing');
    const { host, port } = splitHostPort(text);
    return { host, port, text };
  } catch {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `invalid ${what} address ${JSON.stringify(String(text))} (want host:port)`);
  }
}

function positive(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `invalid ${what}: ${String(value)}`);
  }
  return value;
}
