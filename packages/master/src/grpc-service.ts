import { Metadata, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { APPLIED_INDEX_KEY, checkBounds, toServiceError, type ChunkserverControlServiceServer, type MasterServiceServer } from '@dfs/proto';
import type { Logger } from '@dfs/telemetry';
import { authorize } from './access.js';
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

export function masterServiceHandlers(master: Master, logger: Logger): MasterServiceServer & UntypedServiceImplementation {
  const at = (): number => master.appliedIndex();
  const indexed = <Req, Res>(name: string, fn: (req: Req) => Promise<Res> | Res): Handler<Req, Res> => unary(logger, name, fn, undefined, at);
  return {
    createFile: indexed('CreateFile', (r) => master.createFile(r)),
    addChunk: indexed('AddChunk', (r) => master.addChunk(r)),
    abandonChunk: indexed('AbandonChunk', (r) => master.abandonChunk(r)),
    completeFile: indexed('CompleteFile', (r) => master.completeFile(r)),
    renewLease: indexed('RenewLease', (r) => master.renewLease(r)),
    getFile: indexed('GetFile', (r) => master.getFile(r)),
    stat: indexed('Stat', (r) => master.stat(r)),
    list: indexed('List', (r) => master.list(r)),
    mkdir: indexed('Mkdir', (r) => master.mkdir(r)),
    delete: indexed('Delete', (r) => master.delete(r)),
    rename: indexed('Rename', (r) => master.rename(r)),
    reportBadReplica: indexed('ReportBadReplica', (r) => master.reportBadReplica(r)),
    clusterStatus: indexed('ClusterStatus', () => master.clusterStatus()),
    fsck: indexed('Fsck', (r) => master.fsck(r)),
    decommission: indexed('Decommission', (r) => master.decommission(r)),
    balance: indexed('Balance', (r) => master.balance(r)),
    appendFile: indexed('AppendFile', (r) => master.appendFile(r)),
    addMaster: indexed('AddMaster', (r) => master.addMaster(r)),
    removeMaster: indexed('RemoveMaster', (r) => master.removeMaster(r)),
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
