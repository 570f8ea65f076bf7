import { DfsClient, resolveMasters, type ReadPolicyName } from '@dfs/client';

/** Options every client command accepts. */
export interface ClientFlags {
  masters?: string;
  readPolicy?: string;
  timeout?: string;
  requestId?: string;
}

let openClient: DfsClient | undefined;

/** One DfsClient per CLI run, from --masters, DFS_MASTERS, the config file or .dfs-data/cluster.json. */
export function clientFrom(flags: ClientFlags): DfsClient {
  if (openClient) return openClient;
  const { masters } = resolveMasters(flags.masters);
  openClient = new DfsClient({
    masters,
    readPolicy: (flags.readPolicy as ReadPolicyName | undefined) ?? 'round-robin',
    // A CLI command gives up within a few seconds when no master answers.
    retryWindowMs: 8_000,
    callTimeoutMs: 3_000,
  });
  return openClient;
}

/** Closes the CLI's client; true when there was one (the command talked to the cluster). */
export function closeClient(): boolean {
  const had = openClient !== undefined;
  openClient?.close();
  openClient = undefined;
  return had;
}
