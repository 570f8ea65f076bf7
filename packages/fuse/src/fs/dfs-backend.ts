import { DfsClient, type DfsClientOptions, type PutOptions } from '@dfs/client';
import type { FileStatus } from '@dfs/proto';
import type { Security } from '@dfs/security';
import type { FsBackend, GrowingFile } from './backend.js';
import { UploadThread } from './upload-thread.js';

export interface ClusterConnection {
  masters: string[];
  security: Security;
  callTimeoutMs?: number;
  retryWindowMs?: number;
  /** The mount's bearer token: every call acts as its user. */
  token?: string;
}

/** The mount's DfsClient settings (the same on the main thread and the upload thread). */
export function clientOptions(conn: ClusterConnection): DfsClientOptions {
  return {
    masters: conn.masters,
    security: conn.security,
    callTimeoutMs: conn.callTimeoutMs,
    retryWindowMs: conn.retryWindowMs,
    ...(conn.token ? { token: conn.token } : {}),
    // The kernel applies the caller's umask before create/mkdir reach us.
    umask: 0,
  };
}

/** A DfsClient whose write-behind uploads run on the upload thread (upload-thread.ts). */
class MountClient extends DfsClient {
  constructor(
    conn: ClusterConnection,
    private readonly uploads: UploadThread,
  ) {
    super(clientOptions(conn));
  }

  override putGrowingFile(localPath: string, remote: string, growing: GrowingFile, opts: PutOptions = {}): Promise<FileStatus> {
    return this.uploads.putGrowingFile(localPath, remote, growing, { overwrite: opts.overwrite, mode: opts.mode });
  }

  override close(): void {
    void this.uploads.close();
    super.close();
  }
}

/** The real backend: a DfsClient, which satisfies FsBackend as is (checked here by the compiler). */
export function connectBackend(conn: ClusterConnection): { backend: FsBackend; client: DfsClient; close: () => void } {
  const client = new MountClient(conn, new UploadThread(conn));
  const backend: FsBackend = client;
  return { backend, client, close: () => client.close() };
}
