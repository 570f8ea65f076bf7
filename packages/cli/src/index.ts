// @dfs/cli: the `dfs` command. The launcher is exported for tests and benchmarks.
export { LocalCluster, type ClusterOptions, dfsMainPath, spawnNode } from './cluster/launcher.js';
