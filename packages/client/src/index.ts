// @dfs/client: the library every user and tool goes through.
export {
  DfsClient,
  type DfsClientOptions,
  type CallOptions,
  type PutOptions,
  type AppendOptions,
  type ReadRangeOptions,
  type ListOptions,
  type Attributes,
  type GrowingFile,
  DEFAULT_UMASK,
} from './client.js';
export { resolveMasters, resolveToken, resolveSecurity, resolveCaDir, type ResolvedMasters, type ResolvedSecurity, type SecurityFlags } from './config.js';
export { type ClusterJson, type ClusterNode, type ClusterTls, type HostEntry } from './cluster-json.js';
export { trashList, trashRestore, trashExpunge, trashRoot, type TrashEntry } from './trash.js';
export { READ_POLICIES, type ReadPolicyName } from './read-policy.js';
export { MasterPool, type MasterPoolOptions } from './master-pool.js';
export { FollowerReads } from './follower-reads.js';
export { streamBackup, backupSources, BACKUP_MAX_LAG } from './metadata-backup.js';
export { restoreSnapshot, snapshotPath } from './snapshots.js';
