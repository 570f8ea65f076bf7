import { DfsClient } from '@dfs/client';
import type { Security } from '@dfs/security';
import type { FsBackend } from './backend.js';

export interface ClusterConnection {
  masters: string[];
  security: Security;
  callTimeoutMs?: number;
  retryWindowMs?: number;
}

/** The real backend: a DfsClient, which satisfies FsBackend as is (checked here by the compiler). */
export function connectBackend(conn: ClusterConnection): { backend: FsBackend; close: () => void } {
  const client = new DfsClient({ masters: conn.masters, security: conn.security, callTimeoutMs: conn.callTimeoutMs, retryWindowMs: conn.retryWindowMs });
  const backend: FsBackend = client;
  return { backend, close: () => client.close() };
}
