// @dfs/client: the library every user and tool goes through.
export {
  DfsClient,
  type DfsClientOptions,
  type CallOptions,
  type PutOptions,
  type AppendOptions,
  type ReadRangeOptions,
  type ListOptions,
} from './client.js';
export { resolveMasters, resolveSecurity, resolveCaDir, type ResolvedMasters, type ResolvedSecurity, type SecurityFlags, type ClusterTls } from './config.js';
export { READ_POLICIES, type ReadPolicyName } from './read-policy.js';
export { MasterPool, type MasterPoolOptions } from './master-pool.js';
