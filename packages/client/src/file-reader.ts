import { DfsError, ErrorCode, type ChunkLocation, type FileStatus } from '@dfs/proto';
import { streamChunkRange, type RangeReadContext } from './chunk-read.js';

/*
 * A file is read as one long ReadChunk call per chunk (a span: the part of the chunk the read
 * covers), each streamed through a bounded read-ahead buffer, the next chunk's call started as
 * one ends (more at once only for small chunks), each from the next replica in policy order. A
 * span that covers its whole chunk is checked against the chunk's recorded CRC32C inside
 * streamChunkRange, whichever replicas served it. Measured with nothing of dfs in it
 * (make bench-get-pattern, packages/chunkserver/DESIGN.md "The get's call pattern, taken apart"),
 * calls of 4 MiB cost the client 1.1–1.3× the CPU per GiB of 64 MiB calls, and more long calls at
 * once bought nothing: HTTP/2 flow control paces one long call as well as many short ones did.
 */

/** Verified bytes a span may buffer ahead of the reader before its call is left to flow control. */
export const READ_AHEAD_BYTES = 8 * 1024 * 1024;
/** The tail of a whole chunk held back until its recorded CRC32C matches (as a last 4 MiB piece was before). */
export const HOLD_BYTES = 4 * 1024 * 1024;

export interface Span {
  chunk: ChunkLocation;
  start: number; // within the chunk
  end: number;
}

/** Cuts [start, end) of the file into one span per chunk it touches. */
export function planSpans(chunks: readonly ChunkLocation[], start: number, end: number): Span[] {
  const spans: Span[] = [];
  for (const chunk of chunks) {
    const from = Math.max(start, chunk.offset);
    const to = Math.min(end, chunk.offset + chunk.length);
    if (to > from) spans.push({ chunk, start: from - chunk.offset, end: to - chunk.offset });
  }
  return spans;
}

/**
 * Pulls a source ahead of its reader into a queue of at most about `capBytes`, then stops pulling
 * until the reader takes some: a stopped ReadChunk call is paced by HTTP/2 flow control.
 */
class ReadAhead {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private done = false;
  private failure: unknown;
  private wakeReader: (() => void) | undefined;
  private wakePump: (() => void) | undefined;
  private stopped = false;

  /** The source has delivered its last byte (or failed): its call is over. */
  readonly fetched: Promise<void>;

  constructor(
    private readonly source: AsyncGenerator<Buffer, unknown>,
    private readonly capBytes: number,
    private readonly cancel: () => void,
  ) {
    this.fetched = this.pump();
  }

  private async pump(): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.queued >= this.capBytes) {
          await new Promise<void>((resolve) => (this.wakePump = resolve));
          continue;
        }
        const next = await this.source.next();
        if (next.done) break;
        this.queue.push(next.value);
        this.queued += next.value.length;
        this.wake();
      }
    } catch (err) {
      this.failure = err ?? new Error('read failed');
    } finally {
      this.done = true;
      this.wake();
    }
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = undefined;
    w?.();
  }

  private resumePump(): void {
    const w = this.wakePump;
    this.wakePump = undefined;
    w?.();
  }

  async *drain(): AsyncGenerator<Buffer> {
    for (;;) {
      const buf = this.queue.shift();
      if (buf) {
        this.queued -= buf.length;
        this.resumePump();
        yield buf;
      } else if (this.failure !== undefined) {
        throw this.failure;
      } else if (this.done) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    }
  }

  /** Abandons the source: its call is cancelled and what was queued is dropped. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.queued = 0;
    this.resumePump();
    // The source may be waiting on its call: cancel that, then let the generator finish.
    this.cancel();
    void this.source.return(undefined).catch(() => undefined);
  }
}

/**
 * Streams [start, end) of a file in order with up to `parallel` calls running and one more span
 * draining: memory stays near (parallel + 1) × (READ_AHEAD_BYTES + HOLD_BYTES) plus what grpc-js
 * buffers for each running call, whatever the file size.
 */
export async function* readFileRange(
  ctx: RangeReadContext,
  file: FileStatus,
  chunks: readonly ChunkLocation[],
  start: number,
  end: number,
  parallel: number,
): AsyncGenerator<Buffer> {
  const spans = planSpans(chunks, start, Math.min(end, file.size));
  const covered = spans.reduce((n, p) => n + (p.end - p.start), 0);
  if (covered !== Math.max(0, Math.min(end, file.size) - start)) {
    throw new DfsError(ErrorCode.INTERNAL, `${file.path}: chunk list does not cover the file (size ${file.size})`);
  }
  // Spans whose call still runs (at most `parallel`), and spans not yet drained (at most one
  // more): the next chunk's call starts as soon as one ends, while the reader still drains the
  // read-ahead of the last, so a chunk boundary costs no round trip and memory stays bounded.
  const window: ReadAhead[] = [];
  let running = 0;
  let next = 0;
  let closed = false;
  const fill = (): void => {
    while (!closed && next < spans.length && running < Math.max(1, parallel) && window.length <= Math.max(1, parallel)) launch();
  };
  const launch = (): void => {
    const span = spans[next++]!;
    const own = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, own.signal]) : own.signal;
    const source = streamChunkRange({ ...ctx, signal }, span.chunk, span.start, span.end, HOLD_BYTES);
    const reader = new ReadAhead(source, READ_AHEAD_BYTES, () => own.abort());
    running++;
    void reader.fetched.then(() => {
      running--;
      fill();
    });
    window.push(reader);
  };
  try {
    fill();
    while (window.length > 0) {
      yield* window[0]!.drain();
      window.shift();
      fill();
    }
  } finally {
    // An abandoned read leaves nothing running: every span still in flight is cancelled, and
    // a call that ends later starts no other.
    closed = true;
    for (const r of window.splice(0)) r.stop();
  }
}
