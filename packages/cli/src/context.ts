import type { DfsClient, ReadPolicyName } from '@dfs/client';
import { compileIpv6CheckOnce } from './ipv6-check.js';
import { readLeaderHint, writeLeaderHint } from './leader-hint.js';
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
/** The masters and the leader hint the open client started from. */
let started: { masters: string[]; hint: string | undefined } | undefined;

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
  const hint = readLeaderHint(masters);
  started = { masters, hint };
  openClient = new DfsClient({
    masters,
    ...(hint ? { leaderHint: hint } : {}),
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
  // Written only when it changed: most commands read the file and write nothing.
  const leader = openClient?.masters.leader;
  if (started && leader && leader !== started.hint) writeLeaderHint(started.masters, leader);
  started = undefined;
  openClient?.close();
  openClient = undefined;
  return had;
}
