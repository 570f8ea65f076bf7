import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DfsError, ErrorCode, parseDuration, parseMembers, parseSize } from '@dfs/proto';
import { enableCredentialReload, httpTls, INSECURE, tlsFrom, type Security } from '@dfs/security';
import { stopWhenParentDies } from '../cluster/parent-watch.js';

// The daemons' packages load only when a daemon starts: every other command (`dfs stat`, …)
// would pay their start-up (@dfs/master with SQLite; @dfs/telemetry with pino, prom-client and
// OpenTelemetry: ~120 modules) for nothing.
const loadMaster = (): typeof import('@dfs/master') => require('@dfs/master') as typeof import('@dfs/master');
const loadChunkserver = (): typeof import('@dfs/chunkserver') => require('@dfs/chunkserver') as typeof import('@dfs/chunkserver');
const loadTelemetry = (): typeof import('@dfs/telemetry') => require('@dfs/telemetry') as typeof import('@dfs/telemetry');

interface Stoppable {
  stop(): Promise<void>;
}

/**
 * A node's credentials: `--tls-dir` (default DIR/tls, where `dfs cluster up` puts them), or
 * plaintext with `--insecure`, which is logged as a warning. Certificates are re-read on
 * SIGHUP and when their files change.
 */
function nodeSecurity(o: Record<string, string | undefined>): Security {
  const log = loadTelemetry().createLogger(o.id!, o.logLevel);
  if ((o.insecure as unknown as boolean | undefined) === true) {
    log.warn('running with --insecure: gRPC is plaintext, callers are not authenticated and every role check is off');
    return INSECURE;
  }
  const security = tlsFrom(o.tlsDir ?? join(o.dir!, 'tls'));
  enableCredentialReload((err, dir) => {
    if (err) log.error({ dir, err: err.message }, 'new TLS credentials rejected; keeping the old ones');
    else log.info({ dir }, 'TLS credentials reloaded');
  });
  return security;
}

/** The node's gRPC credentials and, with --http-tls, its HTTPS certificate. */
function secured(o: Record<string, string | undefined>): { security: Security; httpTls?: ReturnType<typeof httpTls> } {
  const security = nodeSecurity(o);
  return (o.httpTls as unknown as boolean | undefined) === true ? { security, httpTls: httpTls(security) } : { security };
}

/** What every node process takes from its flags: who, where, how it is reached, its credentials. */
function nodeBase(o: Record<string, string | undefined>): { id: string; dir: string; listen: string; advertise?: string; http?: string; security: Security; httpTls?: ReturnType<typeof httpTls> } {
  return { id: o.id!, dir: o.dir!, listen: o.listen!, advertise: o.advertise, ...secured(o), http: o.http };
}

/** Writes D/pid, stops cleanly on SIGINT/SIGTERM, and exits if the launcher that started us dies. */
function runAsDaemon(dir: string, node: Stoppable): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'pid'), `${process.pid}\n`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    node.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  stopWhenParentDies(stop); // orphaned by a SIGKILLed launcher: do not linger holding ports
}

/** The flags every node process takes: status page, logging, credentials. */
function withNodeFlags(cmd: Command): Command {
  return cmd
    .option('--http <host:port>', 'HTTP status and /metrics address (a bare port binds 127.0.0.1; read-only)')
    .option('--http-tls', "serve the status page and /metrics over HTTPS with the node's certificate")
    .option('--log-level <level>', 'trace|debug|info|warn|error', 'info')
    .option('--tls-dir <dir>', 'credentials: ca.crt, tls.crt, tls.key (default DIR/tls)')
    .option('--insecure', 'plaintext gRPC with no authentication (logs a warning)');
}

/** `--backup-every D --backup-dir DIR --keep N`, all or none. */
function scheduledBackups(o: Record<string, string | undefined>): { everyMs: number; dir: string; keep: number } | undefined {
  if (!o.backupEvery && !o.backupDir) return undefined;
  if (!o.backupEvery || !o.backupDir) throw new DfsError(ErrorCode.INVALID_ARGUMENT, '--backup-every and --backup-dir go together');
  const everyMs = parseDuration(o.backupEvery);
  if (everyMs < 1000) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--backup-every: at least 1s, got ${o.backupEvery}`);
  const keep = Number(o.keep);
  if (!Number.isSafeInteger(keep) || keep < 1) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--keep: not a positive integer: ${o.keep}`);
  return { everyMs, dir: o.backupDir, keep };
}

export function registerDaemonCommands(program: Command): void {
  withNodeFlags(
    program
      .command('master')
      .description('run a master (metadata service, one Raft member)')
      .requiredOption('--id <id>', 'this master\'s id (as in --peers)')
      .requiredOption('--dir <dir>', 'data directory')
      .option('--listen <host:port>', 'gRPC address to bind (host name or IP)', '127.0.0.1:7001')
      .option('--advertise <host:port>', 'address the other processes dial (default: this master\'s --peers entry, else --listen)')
      .option('--peers <list>', 'every master: m1=host:port,m2=host:port,...')
      .option('--peers-http <list>', 'the masters\' HTTP addresses: m1=host:port,... (status pages link to the leader)')
      .option('--chunk-size <bytes>', 'default chunk size', '64MiB')
      .option('--replication <n>', 'default replication factor', '3')
      .option('--min-replicas <n>', 'fewest replicas a write may succeed with')
      .option('--dead-after <duration>', 'declare a silent chunkserver dead after', '60s')
      .option('--lease <duration>', 'writer lease soft limit', '60s')
      .option('--lease-hard-limit <duration>', 'renewals keep a lease at most this long past the last progress (a chunk added)', '1h')
      .option('--chunk-token-ttl <duration>', 'lifetime of a chunk access token (clients refresh expired ones)', '10m')
      .option('--chunk-key-rotation <duration>', 'how long one chunk-token key signs before the next takes over', '1h')
      .option('--trash-interval <duration>', 'how long deleted files stay in the trash', '6h')
      .option('--join', 'join a running group: --peers lists its members (not this one); then `dfs admin masters add`')
      .option('--snapshot-every <n>', 'snapshot the metadata and compact the Raft log every N entries', '10000')
      .option('--audit-log <file>', 'the audit log: one JSON line per namespace operation (default DIR/audit.log)')
      .option('--audit-max-size <bytes>', 'rotate the audit log at this size', '64MiB')
      .option('--audit-keep <n>', 'rotated audit logs kept', '5')
      .option('--restore <file>', 'start a NEW group from a metadata backup (`dfs admin backup`): every master of the group with the same file, each in an empty --dir')
      .option('--backup-every <duration>', 'take a metadata backup into --backup-dir this often (e.g. 1h)')
      .option('--backup-dir <dir>', 'where scheduled backups go')
      .option('--keep <n>', 'scheduled backups kept in --backup-dir', '24'),
  ).action(async (o: Record<string, string | undefined>) => {
    const join = (o.join as unknown as boolean | undefined) === true;
    const backups = scheduledBackups(o);
    if (o.restore) {
      if (join) throw new DfsError(ErrorCode.INVALID_ARGUMENT, '--restore starts a new group; it cannot --join one');
      const peers = o.peers ? parseMembers(o.peers, '--peers') : [{ id: o.id!, address: o.advertise ?? o.listen! }];
      const header = await loadMaster().restoreFromBackup({ file: o.restore, dir: o.dir!, peers });
      loadTelemetry()
        .createLogger(o.id!, o.logLevel)
        .info({ file: o.restore, clusterId: header.clusterId, appliedIndex: header.appliedIndex, takenAt: header.createdAt }, 'metadata restored from backup: starting a new group');
    }
    const snapshotEvery = Number(o.snapshotEvery);
    if (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 1) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--snapshot-every: not a positive integer: ${o.snapshotEvery}`);
    if (join && !o.peers) throw new DfsError(ErrorCode.INVALID_ARGUMENT, '--join needs --peers (the members of the group to join)');
    const { startMaster } = loadMaster();
    const master = await startMaster({
      ...nodeBase(o),
      peers: o.peers ? parseMembers(o.peers, '--peers') : undefined,
      peerHttp: o.peersHttp ? Object.fromEntries(parseMembers(o.peersHttp, '--peers-http').map((p) => [p.id, p.address])) : undefined,
      chunkSize: parseSize(o.chunkSize!),
      defaultReplication: Number(o.replication),
      minReplicas: o.minReplicas ? Number(o.minReplicas) : undefined,
      deadAfterMs: parseDuration(o.deadAfter!),
      leaseMs: parseDuration(o.lease!),
      leaseHardLimitMs: parseDuration(o.leaseHardLimit!),
      chunkTokenTtlMs: parseDuration(o.chunkTokenTtl!),
      chunkKeyRotationMs: parseDuration(o.chunkKeyRotation!),
      trashIntervalMs: parseDuration(o.trashInterval!),
      ...(o.auditLog ? { auditLog: o.auditLog } : {}),
      auditMaxBytes: parseSize(o.auditMaxSize!),
      auditKeep: Number(o.auditKeep),
      logLevel: o.logLevel,
      // Every master, even a lone one, keeps its metadata in the Raft log, so members can be added later.
      raft: { snapshotEvery, join },
      ...(backups ? { backups } : {}),
    });
    runAsDaemon(o.dir!, master);
  });

  withNodeFlags(
    program
      .command('chunkserver')
      .description('run a chunkserver (stores chunks, serves reads and writes)')
      .requiredOption('--id <id>', 'this chunkserver\'s id')
      .requiredOption('--dir <dir>', 'data directory')
      .option('--listen <host:port>', 'gRPC address to bind (host name or IP)', '127.0.0.1:7101')
      .option('--advertise <host:port>', 'address clients, masters and chunkservers dial (default: --listen)')
      .option('--masters <list>', 'master addresses host:port,...', process.env.DFS_MASTERS)
      .option('--rack <rack>', 'rack name for placement')
      .option('--heartbeat <duration>', 'heartbeat interval', '1s')
      .option('--capacity <bytes>', 'storage quota (default: the disk\'s size)')
      .option('--scrub-interval <duration>', 'pause between scrubber passes over every replica (0 = off)', '1h')
      .option('--scrub-rate <bytes>', 'scrubber read rate per second', '16MiB')
      .option('--copy-rate <bytes>', 're-replication read rate per second (0 = unlimited)', '64MiB')
      .option('--write-idle-timeout <duration>', 'cancel a write stream that sends nothing this long (its partial replica is discarded)', '60s'),
  ).action(async (o: Record<string, string | undefined>) => {
    if (!o.masters) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'chunkserver: --masters (or DFS_MASTERS) is required');
    const { startChunkserver } = loadChunkserver();
    const cs = await startChunkserver({
      ...nodeBase(o),
      masters: o.masters.split(',').filter(Boolean),
      rack: o.rack,
      heartbeatMs: parseDuration(o.heartbeat!),
      capacityBytes: o.capacity ? parseSize(o.capacity) : undefined,
      scrubIntervalMs: parseDuration(o.scrubInterval!),
      scrubBytesPerSec: parseSize(o.scrubRate!),
      copyBytesPerSec: parseSize(o.copyRate!),
      writeIdleTimeoutMs: parseDuration(o.writeIdleTimeout!),
      logLevel: o.logLevel,
    });
    runAsDaemon(o.dir!, cs);
  });
}
