import { once } from 'node:events';
import { Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  APPLIED_INDEX_KEY,
  DfsError,
  ErrorCode,
  checkBounds,
  errorCodeName,
  toDfsError,
  toServiceError,
  type BackupMetadataPiece,
  type BackupMetadataRequest,
  type ChunkserverControlServiceServer,
  type MasterServiceServer,
} from '@dfs/proto';
import { markHop, type Logger } from '@dfs/telemetry';
import { authorize } from './access.js';
import { callerOf, type Caller, type CallerSource } from './auth/caller.js';
import type { AuditLog } from './observability/audit-log.js';
import type { MetadataBackups } from './backup/backups.js';
import type { Master } from './master.js';

type Handler<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/**
 * A thin shell: check the caller may call `name` (access.ts), run `fn`, answer with its
 * value or with its error as a dfs status. `nodeOf` names the node a request speaks for.
 * With `index`, a successful answer's header carries the master's applied index (the
 * token a client's follower reads wait for).
 */
function unary<Req, Res>(
  logger: Logger,
  name: string,
  fn: (req: Req) => Promise<Res> | Res,
  nodeOf?: (req: Req) => string,
  index?: () => number,
): Handler<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => {
        authorize(call, name, nodeOf?.(call.request));
        // Every string and count a caller sends is bounded before any handler sees it.
        checkBounds(call.request, name);
        return fn(call.request);
      })
      .then(
        (res) => {
          if (index) {
            const md = new Metadata();
            md.set(APPLIED_INDEX_KEY, String(index()));
            call.sendMetadata(md);
          }
          callback(null, res);
        },
        (err: unknown) => {
          const se = toServiceError(err);
          if (!(err instanceof Error && err.name === 'DfsError')) logger.error({ err, rpc: name }, 'unexpected error');
          callback(se, null);
        },
      );
  };
}

/** What a namespace handler knows about its call: who, how identified, from where. */
export interface CallContext {
  caller: Caller;
  via: CallerSource;
  peer: string;
}

/** Which request fields the audit log records for an operation (undefined = not audited). */
type AuditFields<Req> = (req: Req) => { path: string; dst?: string };

/**
 * A namespace RPC: checks the certificate's role (access.ts), identifies the user
 * (auth/caller.ts: a bearer token, else the certificate), runs `fn`, and — when it names an
 * audit shape and this master is the leader — writes one audit line, allowed or denied.
 */
function withCaller<Req, Res>(
  logger: Logger,
  name: string,
  master: Master,
  audit: AuditLog | undefined,
  fn: (req: Req, ctx: CallContext) => Promise<Res> | Res,
  fields?: AuditFields<Req>,
): Handler<Req, Res> {
  return (call, callback) => {
    markHop('rpc.enter');
    let ctx: CallContext | undefined;
    Promise.resolve()
      .then(async () => {
        const certificate = authorize(call, name); // the certificate's role may call this RPC at all (access.ts)
        checkBounds(call.request, name); // every string and count bounded before a handler sees it
        const { caller, via } = await callerOf(call, master.tokens, certificate);
        ctx = { caller, via, peer: call.getPeer() };
        markHop('rpc.handler');
        return fn(call.request, ctx);
      })
      .then(
        (res) => {
          markHop('rpc.result');
          if (audit && fields && master.isLeader()) writeAudit(audit, name, ctx, fields(call.request), call.getPeer(), undefined);
          sendAppliedIndex(call, master);
          callback(null, res);
          markHop('rpc.answered');
        },
        (err: unknown) => {
          const se = toServiceError(err);
          if (!(err instanceof Error && err.name === 'DfsError')) logger.error({ err, rpc: name }, 'unexpected error');
          if (audit && fields && master.isLeader() && !DfsError.is(err, ErrorCode.NOT_LEADER)) {
            writeAudit(audit, name, ctx, safeFields(fields, call.request), call.getPeer(), toDfsError(err).code);
          }
          callback(se, null);
        },
      );
  };
}

/** A master's answer carries its applied index: the token a client's follower reads wait for. */
function sendAppliedIndex(call: ServerUnaryCall<unknown, unknown>, master: Master): void {
  const md = new Metadata();
  md.set(APPLIED_INDEX_KEY, String(master.appliedIndex()));
  call.sendMetadata(md);
}

function safeFields<Req>(fields: AuditFields<Req>, req: Req): { path: string; dst?: string } {
  try {
    return fields(req);
  } catch {
    return { path: '' };
  }
}

function writeAudit(audit: AuditLog, op: string, ctx: CallContext | undefined, f: { path: string; dst?: string }, peer: string, code: ErrorCode | undefined): void {
  audit.record({
    time: new Date().toISOString(),
    user: ctx?.caller.user ?? '?',
    via: ctx?.via ?? 'rejected',
    client: peer,
    op,
    path: f.path,
    ...(f.dst !== undefined ? { dst: f.dst } : {}),
    allowed: code !== ErrorCode.PERMISSION_DENIED,
    result: code === undefined ? 'ok' : errorCodeName(code),
  });
}

/**
 * BackupMetadata: an admin's consistent copy of this master's applied state, streamed with
 * back-pressure (backup/backups.ts). A cancelled call stops the stream; the scratch file goes.
 */
function backupHandler(logger: Logger, backups: MetadataBackups | undefined): (call: ServerWritableStream<BackupMetadataRequest, BackupMetadataPiece>) => void {
  return (call) => {
    Promise.resolve()
      .then(async () => {
        authorize(call, 'BackupMetadata');
        if (!backups) throw new DfsError(ErrorCode.UNAVAILABLE, 'this master takes no backups');
        await backups.stream(async (data) => {
          if (call.cancelled) throw new DfsError(ErrorCode.CANCELLED, 'backup cancelled by the caller');
          if (!call.write({ data })) await once(call, 'drain');
        });
      })
      .then(
        () => call.end(),
        (err: unknown) => {
          if (!(err instanceof Error && err.name === 'DfsError')) logger.error({ err, rpc: 'BackupMetadata' }, 'unexpected error');
          call.emit('error', toServiceError(err));
        },
      );
  };
}

export function masterServiceHandlers(master: Master, logger: Logger, audit?: AuditLog, backups?: MetadataBackups): MasterServiceServer & UntypedServiceImplementation {
  const h = <Req, Res>(name: string, fn: (req: Req, ctx: CallContext) => Promise<Res> | Res, fields?: AuditFields<Req>): Handler<Req, Res> =>
    withCaller(logger, name, master, audit, fn, fields);
  const at = (): number => master.appliedIndex();
  const path = <R extends { path: string }>(r: R): { path: string } => ({ path: r.path });
  return {
    createFile: h('CreateFile', (r, c) => master.createFile(r, c.caller), path),
    addChunk: h('AddChunk', (r, c) => master.addChunk(r, c.caller)),
    abandonChunk: unary(logger, 'AbandonChunk', (r) => master.abandonChunk(r), undefined, at),
    completeFile: unary(logger, 'CompleteFile', (r) => master.completeFile(r), undefined, at),
    renewLease: unary(logger, 'RenewLease', (r) => master.renewLease(r), undefined, at),
    // Reads of file contents are audited at open time: GetFile is what a reader calls first.
    getFile: h('GetFile', (r, c) => master.getFile(r, c.caller), path),
    stat: h('Stat', (r, c) => master.stat(r, c.caller), path),
    list: h('List', (r, c) => master.list(r, c.caller), path),
    mkdir: h('Mkdir', (r, c) => master.mkdir(r, c.caller), path),
    delete: h('Delete', (r, c) => master.delete(r, c.caller), path),
    rename: h('Rename', (r, c) => master.rename(r, c.caller), (r) => ({ path: r.src, dst: r.dst })),
    reportBadReplica: unary(logger, 'ReportBadReplica', (r) => master.reportBadReplica(r), undefined, at),
    clusterStatus: unary(logger, 'ClusterStatus', () => master.clusterStatus(), undefined, at),
    fsck: unary(logger, 'Fsck', (r) => master.fsck(r), undefined, at),
    decommission: unary(logger, 'Decommission', (r) => master.decommission(r), undefined, at),
    balance: unary(logger, 'Balance', (r) => master.balance(r), undefined, at),
    appendFile: h('AppendFile', (r, c) => master.appendFile(r, c.caller), path),
    addMaster: unary(logger, 'AddMaster', (r) => master.addMaster(r), undefined, at),
    removeMaster: unary(logger, 'RemoveMaster', (r) => master.removeMaster(r), undefined, at),
    setAttr: h('SetAttr', (r, c) => master.setAttr(r, c.caller), path),
    symlink: h('Symlink', (r, c) => master.symlink(r, c.caller), path),
    link: h('Link', (r, c) => master.link(r, c.caller), (r) => ({ path: r.src, dst: r.dst })),
    mknod: h('Mknod', (r, c) => master.mknod(r, c.caller), path),
    setQuota: h('SetQuota', (r, c) => master.setQuota(r, c.caller), path),
    contentSummary: h('ContentSummary', (r, c) => master.contentSummary(r, c.caller), path),
    setReplication: h('SetReplication', (r, c) => master.setReplication(r, c.caller), path),
    whoAmI: h('WhoAmI', (_r, c) => master.whoAmI(c.caller, c.via)),
    createToken: h('CreateToken', (r, c) => master.createToken(r, c.caller), (r) => ({ path: '', dst: `user:${r.user}` })),
    revokeToken: h('RevokeToken', (r, c) => master.revokeToken(r, c.caller), () => ({ path: '' })),
    whoLeads: unary(logger, 'WhoLeads', () => master.whoLeads()),
    backupMetadata: backupHandler(logger, backups),
    snapshot: h('Snapshot', (r, c) => master.snapshot(r, c.caller), (r) => ({ path: r.path, dst: `${r.op}:${r.name}` })),
  };
}

export function chunkserverControlHandlers(
  master: Master,
  logger: Logger,
): ChunkserverControlServiceServer & UntypedServiceImplementation {
  return {
    register: unary(logger, 'Register', (r) => master.register(r), (r) => r.id),
    heartbeat: unary(logger, 'Heartbeat', (r) => master.heartbeat(r), (r) => r.id),
  };
}
