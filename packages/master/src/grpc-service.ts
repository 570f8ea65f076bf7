import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { toServiceError, type ChunkserverControlServiceServer, type MasterServiceServer } from '@dfs/proto';
import { authorize } from './access.js';
import type { Logger } from './logger.js';
import type { Master } from './master.js';

type Handler<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

/**
 * A thin shell: check the caller may call `name` (access.ts), run `fn`, answer with its
 * value or with its error as a dfs status. `nodeOf` names the node a request speaks for.
 */
function unary<Req, Res>(logger: Logger, name: string, fn: (req: Req) => Promise<Res> | Res, nodeOf?: (req: Req) => string): Handler<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => {
        authorize(call, name, nodeOf?.(call.request));
        return fn(call.request);
      })
      .then(
        (res) => callback(null, res),
        (err: unknown) => {
          const se = toServiceError(err);
          if (!(err instanceof Error && err.name === 'DfsError')) logger.error({ err, rpc: name }, 'unexpected error');
          callback(se, null);
        },
      );
  };
}

export function masterServiceHandlers(master: Master, logger: Logger): MasterServiceServer & UntypedServiceImplementation {
  return {
    createFile: unary(logger, 'CreateFile', (r) => master.createFile(r)),
    addChunk: unary(logger, 'AddChunk', (r) => master.addChunk(r)),
    abandonChunk: unary(logger, 'AbandonChunk', (r) => master.abandonChunk(r)),
    completeFile: unary(logger, 'CompleteFile', (r) => master.completeFile(r)),
    renewLease: unary(logger, 'RenewLease', (r) => master.renewLease(r)),
    getFile: unary(logger, 'GetFile', (r) => master.getFile(r)),
    stat: unary(logger, 'Stat', (r) => master.stat(r)),
    list: unary(logger, 'List', (r) => master.list(r)),
    mkdir: unary(logger, 'Mkdir', (r) => master.mkdir(r)),
    delete: unary(logger, 'Delete', (r) => master.delete(r)),
    rename: unary(logger, 'Rename', (r) => master.rename(r)),
    reportBadReplica: unary(logger, 'ReportBadReplica', (r) => master.reportBadReplica(r)),
    clusterStatus: unary(logger, 'ClusterStatus', () => master.clusterStatus()),
    fsck: unary(logger, 'Fsck', (r) => master.fsck(r)),
    decommission: unary(logger, 'Decommission', (r) => master.decommission(r)),
    balance: unary(logger, 'Balance', (r) => master.balance(r)),
    appendFile: unary(logger, 'AppendFile', (r) => master.appendFile(r)),
    addMaster: unary(logger, 'AddMaster', (r) => master.addMaster(r)),
    removeMaster: unary(logger, 'RemoveMaster', (r) => master.removeMaster(r)),
    whoLeads: unary(logger, 'WhoLeads', () => master.whoLeads()),
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
