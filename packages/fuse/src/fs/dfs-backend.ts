import { DfsClient } from '@dfs/client';
import type { Security } from '@dfs/security';
import type { FsBackend } from './backend.js';

export interface ClusterConnection {
  masters: string[];
  security: Security;
  callTimeoutMs?: number;
  retryWindowMs?: number;
  /** The mount's bearer token: every call acts as its user. */
  token?: string;
}

/** The real backend: a DfsClient, which satisfies FsBackend as is (checked here by the compiler). */
export function connectBackend(conn: ClusterConnection): { backend: FsBackend; client: DfsClient; close: () => void } {
  const client = new DfsClient({
    masters: conn.masters,
    security: conn.security,
    callTimeoutMs: conn.callTimeoutMs,
    retryWindowMs: conn.retryWindowMs,
    ...(conn.token ? { token: conn.token } : {}),
    // The kernel applies the caller's umask before create/mkdir reach us.
    umask: 0,
  });
  const backend: FsBackend = client;
  return { backend, client, close: () => client.close() };
}
