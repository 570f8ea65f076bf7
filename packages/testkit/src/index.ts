// @dfs/testkit: what every package's tests, test/ and scripts/bench share. Never imported by production code.
export { StopWaiting, waitFor } from './wait-for.js';
export { Prng, seededBytes } from './prng.js';
export { TestCluster, runDfs, isAlive, DFS_BIN, REPO_ROOT, type TestClusterOptions, type RunResult } from './test-cluster.js';
export { type ClusterJson, type ClusterNode } from '@dfs/client';
export { runFsx, fileTarget, type FsxTarget, type FsxOptions, type FsxResult } from './fsx.js';
