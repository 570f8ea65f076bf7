import { FsError } from './errno.js';

/** Where a BlockStream hands its blocks, and its end if it ends early. */
export interface BlockSink {
  /** Block `index` is whole (the file's last block may be short). */
  block(index: number, bytes: Buffer): void;
  /** The stream failed: blocks from `nextIndex` on will not come. */
  failed(err: unknown, nextIndex: number): void;
}

export interface BlockStreamOptions {
  /** The bytes from `firstBlock`'s start to the file's end, in order; aborted by `signal` on stop. */
  source: (signal: AbortSignal) => AsyncIterable<Buffer>;
  firstBlock: number;
  blockSize: number;
  fileSize: number;
  /** Runs once the first bytes have come, before any block is handed on (the version check). */
  verify: () => Promise<void>;
  sink: BlockSink;
}

/**
 * One long read of a file, from a block boundary to its end, cut into blocks as its bytes arrive
 * and paced by its reader: it hands on blocks up to the last one it is allowed, then stops
 * pulling, and HTTP/2 flow control holds the chunkserver back. A sequential reader of the mount
 * keeps one such call running instead of fetching window after window, each a new call whose
 * blocks were all released only once its last byte had come.
 */
export class BlockStream {
  private next: number;
  private allowedThrough: number;
  private readonly abort = new AbortController();
  private wakeUp: (() => void) | undefined;
  private stopped = false;
  private over = false;

  constructor(private readonly opts: BlockStreamOptions) {
    this.next = opts.firstBlock;
    this.allowedThrough = opts.firstBlock - 1;
    void this.run();
  }

  /** The next block it will hand on. */
  get nextBlock(): number {
    return this.next;
  }

  /** It has handed on its last block, failed or been stopped. */
  get ended(): boolean {
    return this.over;
  }

  /** Lets it hand on blocks through `index`. */
  allow(index: number): void {
    if (index <= this.allowedThrough) return;
    this.allowedThrough = index;
    this.wake();
  }

  /** Cancels its call; it hands on nothing more and reports no failure. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort();
    this.wake();
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  private async run(): Promise<void> {
    const { blockSize, fileSize } = this.opts;
    const lastBlock = Math.floor((fileSize - 1) / blockSize);
    const lengthOf = (index: number): number => Math.min(blockSize, fileSize - index * blockSize);
    let block: Buffer | undefined;
    let filled = 0;
    let verified = false;
    try {
      for await (const piece of this.opts.source(this.abort.signal)) {
        if (this.stopped) return;
        if (!verified) {
          await this.opts.verify();
          verified = true;
          if (this.stopped) return;
        }
        for (let offset = 0; offset < piece.length; ) {
          if (this.next > lastBlock) throw new FsError('EIO', `read past the end of the file (${fileSize} bytes)`);
          const want = lengthOf(this.next);
          let whole: Buffer;
          if (filled === 0 && piece.length - offset >= want) {
            // A piece that holds the whole block is handed on as it is: no copy.
            whole = piece.subarray(offset, offset + want);
            offset += want;
          } else {
            block ??= Buffer.allocUnsafe(want);
            const take = Math.min(piece.length - offset, want - filled);
            piece.copy(block, filled, offset, offset + take);
            filled += take;
            offset += take;
            if (filled < want) continue;
            whole = block;
            block = undefined;
            filled = 0;
          }
          this.opts.sink.block(this.next++, whole);
        }
        while (!this.stopped && this.next > this.allowedThrough && this.next <= lastBlock) {
          await new Promise<void>((resolve) => (this.wakeUp = resolve));
        }
        if (this.stopped) return;
      }
      if (!this.stopped && this.next <= lastBlock) {
        throw new FsError('EIO', `short read: the file ended at block ${this.next} of ${lastBlock + 1}`);
      }
    } catch (err) {
      if (!this.stopped) this.opts.sink.failed(err, this.next);
    } finally {
      this.over = true;
    }
  }
}
