import { Readable } from 'node:stream';
import type { FileStatus } from '@dfs/proto';
import type { Spool } from './spool.js';

const PIECE = 1024 * 1024;

/**
 * Write-behind: while a new file is written strictly sequentially (cp, shell redirects,
 * most writers), its spool is streamed to the cluster as it grows, so close() only waits
 * for the tail instead of the whole upload. The file still appears atomically: dfs links
 * it into the namespace only when the upload completes, at close.
 *
 * Any write that is not an append at the end, or a truncate, aborts the stream (the
 * client abandons the half-written file) and the commit falls back to uploading the
 * whole spool.
 */
export class StreamingUpload {
  /** Bytes [0, final) of the spool are written and will not change. */
  private final = 0;
  private sent = 0;
  private ended = false;
  private abortedFlag = false;
  private wake: (() => void) | undefined;
  readonly result: Promise<FileStatus>;

  constructor(
    /** The remote path being written. */
    readonly remote: string,
    private readonly spool: Spool,
    start: (source: NodeJS.ReadableStream) => Promise<FileStatus>,
  ) {
    this.result = start(Readable.from(this.pump()));
    // The outcome is read at commit; an early failure must not be an unhandled rejection.
    this.result.catch(() => undefined);
  }

  /** Where the next sequential write must start to keep streaming. */
  get end(): number {
    return this.final;
  }

  get aborted(): boolean {
    return this.abortedFlag;
  }

  /** A write made [0, size) final. */
  advance(size: number): void {
    this.final = size;
    this.poke();
  }

  /** No more data: the upload completes once everything up to `end` is sent. */
  finish(): void {
    this.ended = true;
    this.poke();
  }

  abort(): void {
    this.abortedFlag = true;
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async *pump(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.abortedFlag) throw new Error('streaming upload abandoned: the file was not written sequentially');
      if (this.sent < this.final) {
        const buf = Buffer.allocUnsafe(Math.min(PIECE, this.final - this.sent));
        const n = await this.spool.read(buf, buf.length, this.sent);
        if (n === 0) throw new Error('spool shorter than written');
        this.sent += n;
        yield n === buf.length ? buf : buf.subarray(0, n);
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
