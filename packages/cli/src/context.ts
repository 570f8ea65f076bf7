import type { DfsClient, ReadPolicyName } from '@dfs/client';
import { compileIpv6CheckOnce } from './ipv6-check.js';
import { loadClient, loadSecurity } from './lazy.js';

/** Options every client command accepts. */
export interface ClientFlags {
  masters?: string;
  readPolicy?: string;
  timeout?: string;
  requestId?: string;
  followerReads?: boolean;
  token?: string;
  tlsDir?: string;
  insecure?: boolean;
}

/** Which of the local cluster's certificates a command uses: admin RPCs need the admin's. */
export type CallerRole = 'client' | 'admin';

let openClient: DfsClient | undefined;

/**
 * One DfsClient per CLI run, from --masters, DFS_MASTERS, the config file or .dfs-data/cluster.json;
 * its credentials found the same way (--tls-dir, DFS_TLS_DIR, …), or plaintext with --insecure.
 */
export function clientFrom(flags: ClientFlags, role: CallerRole = 'client'): DfsClient {
  if (openClient) return openClient;
  compileIpv6CheckOnce();
  const { DfsClient, resolveMasters, resolveSecurity, resolveToken } = loadClient();
  const { masters } = resolveMasters(flags.masters);
  const { security } = resolveSecurity({ tlsDir: flags.tlsDir, insecure: flags.insecure, role });
  if (security.insecure) process.stderr.write(`dfs: warning: ${loadSecurity().describeSecurity(security)}: nothing is authenticated or encrypted\n`);
  const token = resolveToken(flags.token);
  openClient = new DfsClient({
    masters,
    security,
    ...(token ? { token } : {}),
    readPolicy: (flags.readPolicy as ReadPolicyName | undefined) ?? 'round-robin',
    // A CLI command gives up within a few seconds when no master answers.
    retryWindowMs: 8_000,
    callTimeoutMs: 3_000,
    ...(flags.followerReads ? { followerReads: true } : {}),
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
