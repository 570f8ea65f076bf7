import type { FileStatus } from '@dfs/proto';
import type { GrowingFile } from './backend.js';
import type { Spool } from './spool.js';

/**
 * Write-behind: while a new file is written strictly sequentially (cp, shell redirects,
 * most writers), the client uploads its spool file chunk by chunk as each chunk's bytes
 * become final (DfsClient.putGrowingFile: the same pipelines as a put of a finished file,
 * reading from the spool file, nothing held in memory), so close() only waits for the
 * last chunk. The file still appears atomically: dfs links it into the namespace only
 * when the upload completes, at close.
 *
 * Any write that is not an append at the end, or a truncate, aborts the upload (the
 * client abandons the half-written file) and the commit falls back to uploading the
 * whole spool.
 */
export class StreamingUpload implements GrowingFile {
  /** Bytes [0, final) of the spool are written and will not change. */
  private finalBytes = 0;
  private ended = false;
  private abortedFlag = false;
  private waiters: Array<{ end: number; resolve: (end: number) => void; reject: (err: Error) => void }> = [];
  readonly result: Promise<FileStatus>;

  constructor(
    /** The remote path being written. */
    readonly remote: string,
    spool: Spool,
    start: (localPath: string, growing: GrowingFile) => Promise<FileStatus>,
  ) {
    // The spool moves to its local file now (it was in memory while small): the client reads that.
    this.result = spool.persist().then((localPath) => start(localPath, this));
    // The outcome is read at commit; an early failure must not be an unhandled rejection.
    this.result.catch(() => undefined);
  }

  /** Where the next sequential write must start to keep streaming. */
  get end(): number {
    return this.finalBytes;
  }

  get aborted(): boolean {
    return this.abortedFlag;
  }

  /** A write made [0, size) final. */
  advance(size: number): void {
    this.finalBytes = size;
    this.settle();
  }

  /** No more data: the upload completes once everything up to `end` is sent. */
  finish(): void {
    this.ended = true;
    this.settle();
  }

  abort(): void {
    this.abortedFlag = true;
    this.settle();
  }

  final(end: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ end, resolve, reject });
      this.settle();
    });
  }

  private settle(): void {
    const waiting: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.abortedFlag) w.reject(new Error('streaming upload abandoned: the file was not written sequentially'));
      else if (this.finalBytes >= w.end) w.resolve(w.end);
      else if (this.ended) w.resolve(this.finalBytes);
      else waiting.push(w);
    }
    this.waiters = waiting;
  }
}
