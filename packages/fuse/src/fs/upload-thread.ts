import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { DfsError, ErrorCode, type FileStatus } from '@dfs/proto';
import type { GrowingFile } from './backend.js';

/*
 * Write-behind uploads run on a thread of their own. Every FUSE request is answered on the
 * mount's main thread, and a sequential writer (cp) waits for each 128 KiB write before it
 * sends the next. Measured with the upload on the main thread (1 GiB cp + sync, TLS): cp spent
 * 15 of its 21 s inside write(2), 313 writes took over 20 ms, each waiting for an event-loop turn
 * full of the upload's TLS and HTTP/2 work (event-loop delay p90 4–9 ms, p99 12–40 ms). The
 * writer and the upload paced each other: the upload waits for whole chunks of the spool, the
 * spool for the loop the upload keeps busy. On its own thread (its own event loop, client and
 * connections) the upload no longer delays the answers to the writer.
 */

/** The main thread's side of the protocol. */
export type ToUploadThread =
  | { kind: 'put'; id: number; localPath: string; remote: string; opts: { overwrite?: boolean; mode?: number } }
  /** The answer to a `final?`: the end the spool is final up to, or why it never will be. */
  | { kind: 'final'; id: number; request: number; end?: number; error?: string };

/** The upload thread's side. */
export type FromUploadThread =
  /** GrowingFile.final(end), asked of the main thread, which knows what the writer has written. */
  | { kind: 'final?'; id: number; request: number; end: number }
  | { kind: 'done'; id: number; status: FileStatus }
  | { kind: 'failed'; id: number; code: ErrorCode; message: string };

/** The compiled worker entry (upload-thread-worker.ts). */
export const UPLOAD_WORKER_SCRIPT = join(__dirname, 'upload-thread-worker.js');

interface Upload {
  growing: GrowingFile;
  resolve(status: FileStatus): void;
  reject(err: unknown): void;
}

/**
 * DfsClient.putGrowingFile run on a worker thread. The thread starts at the first upload and
 * stays; if it dies, the uploads it carried fail (the mount then uploads those spools whole at
 * commit) and the next upload starts a new one.
 */
export class UploadThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly uploads = new Map<number, Upload>();

  /** `workerData` is handed to the script as is (ClusterConnection for the real one). */
  constructor(
    private readonly workerData: unknown,
    private readonly script = UPLOAD_WORKER_SCRIPT,
  ) {}

  putGrowingFile(localPath: string, remote: string, growing: GrowingFile, opts: { overwrite?: boolean; mode?: number }): Promise<FileStatus> {
    const id = this.nextId++;
    return new Promise<FileStatus>((resolve, reject) => {
      this.uploads.set(id, { growing, resolve, reject });
      const put: ToUploadThread = { kind: 'put', id, localPath, remote, opts: { overwrite: opts.overwrite, mode: opts.mode } };
      this.thread().postMessage(put);
    });
  }

  /** Ends the thread; uploads still running fail. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new DfsError(ErrorCode.UNAVAILABLE, 'the mount is closing'));
    await worker?.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.script, { workerData: this.workerData });
    // The mount lives as long as it is mounted; the thread must not keep a stopped one alive.
    worker.unref();
    worker.on('message', (m: FromUploadThread) => this.onMessage(worker, m));
    worker.on('error', (err) => this.lost(worker, err));
    worker.on('exit', (code) => this.lost(worker, new Error(`exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }

  private onMessage(worker: Worker, m: FromUploadThread): void {
    const upload = this.uploads.get(m.id);
    if (!upload) return;
    switch (m.kind) {
      case 'final?': {
        const answer = (reply: ToUploadThread): void => {
          if (this.worker === worker) worker.postMessage(reply);
        };
        upload.growing.final(m.end).then(
          (end) => answer({ kind: 'final', id: m.id, request: m.request, end }),
          (err: unknown) => answer({ kind: 'final', id: m.id, request: m.request, error: err instanceof Error ? err.message : String(err) }),
        );
        return;
      }
      case 'done':
        this.uploads.delete(m.id);
        upload.resolve(m.status);
        return;
      case 'failed':
        this.uploads.delete(m.id);
        upload.reject(new DfsError(m.code, m.message));
    }
  }

  private lost(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failAll(new DfsError(ErrorCode.UNAVAILABLE, `the upload thread stopped: ${err.message}`));
  }

  private failAll(err: DfsError): void {
    const uploads = [...this.uploads.values()];
    this.uploads.clear();
    for (const u of uploads) u.reject(err);
  }
}
