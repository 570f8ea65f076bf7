import { DfsError, ErrorCode } from '@dfs/proto';
import { callerOf as peerIdentity, describeIdentity, requireRole, type AuthenticatedCall, type Identity, type Role } from '@dfs/security';

/*
 * Who may call what on the master, from the identity in the caller's certificate (its
 * role and name, read by @dfs/security). Node RPCs are bound to the node's own id, so a
 * certificate for c2 can neither register nor heartbeat as c1, and a registered node id
 * cannot be taken over by another certificate. Admin RPCs change the cluster, not files.
 * What a client may do to a given file is the permission check's business, not this table's.
 */
const PEOPLE: readonly Role[] = ['client', 'admin'];
const ADMIN: readonly Role[] = ['admin'];
const CHUNKSERVER: readonly Role[] = ['chunkserver'];

export const RPC_ROLES: Readonly<Record<string, readonly Role[]>> = {
  CreateFile: PEOPLE,
  AddChunk: PEOPLE,
  AbandonChunk: PEOPLE,
  CompleteFile: PEOPLE,
  RenewLease: PEOPLE,
  AppendFile: PEOPLE,
  GetFile: PEOPLE,
  Stat: PEOPLE,
  List: PEOPLE,
  Mkdir: PEOPLE,
  Delete: PEOPLE,
  Rename: PEOPLE,
  ClusterStatus: PEOPLE,
  // Everyone who calls the leader asks every master who leads: people and chunkservers.
  WhoLeads: ['client', 'admin', 'chunkserver'],
  Fsck: PEOPLE,
  // A reader that finds a bad replica reports it, and so does a chunkserver's scrubber.
  ReportBadReplica: ['client', 'admin', 'chunkserver'],
  Decommission: ADMIN,
  Balance: ADMIN,
  AddMaster: ADMIN,
  RemoveMaster: ADMIN,
  // The whole namespace, every file's owner and the token-signing key: admins only.
  BackupMetadata: ADMIN,
  // Users (docs/permissions.md): who may do what to which file is the permission check's.
  SetAttr: PEOPLE,
  Symlink: PEOPLE,
  Link: PEOPLE,
  Mknod: PEOPLE,
  SetQuota: PEOPLE,
  ContentSummary: PEOPLE,
  SetReplication: PEOPLE,
  // Snapshots: who may allow, take or read which is the snapshot rules' business (state/snapshots.ts).
  Snapshot: PEOPLE,
  WhoAmI: PEOPLE,
  CreateToken: PEOPLE,
  RevokeToken: PEOPLE,
  Register: CHUNKSERVER,
  Heartbeat: CHUNKSERVER,
};

/** The caller of an --insecure master (plaintext: nobody is authenticated, everything is allowed). */
export const INSECURE_CALLER: Identity = Object.freeze({ role: 'admin', name: 'insecure' });

/**
 * The one way the master learns who calls: the certificate's identity, or INSECURE_CALLER
 * on a plaintext (--insecure) server. A TLS peer without a dfs identity is refused.
 */
export function callerOf(call: AuthenticatedCall): Identity {
  const id = peerIdentity(call);
  if (id === undefined) return INSECURE_CALLER;
  if (id === null) throw new DfsError(ErrorCode.PERMISSION_DENIED, `${describeIdentity(id)} may not call the master`);
  return id;
}

/**
 * Throws PERMISSION_DENIED unless the caller's role may call `rpc`; `nodeId`, for the
 * RPCs a chunkserver sends about itself, must be the certificate's own id.
 */
export function authorize(call: AuthenticatedCall, rpc: string, nodeId?: string): Identity {
  const caller = requireRole(call, rpc, RPC_ROLES[rpc] ?? []);
  if (caller === undefined) return INSECURE_CALLER;
  if (nodeId !== undefined && nodeId !== caller.name) {
    throw new DfsError(ErrorCode.PERMISSION_DENIED, `${rpc}: ${describeIdentity(caller)} may not speak for chunkserver ${JSON.stringify(nodeId)}`);
  }
  return caller;
}
