import type { FsBackend } from './backend.js';
import type { BlockCache } from './block-cache.js';
import { BlockStream } from './block-stream.js';
import { FsError } from './errno.js';
import { isSameVersion, versionKey, type FileVersion } from './file-version.js';

export interface RemoteReaderOptions {
  /** Unit of caching and fetching. */
  blockSize: number;
  /** Largest readahead window for a sequential reader. */
  readaheadMax: number;
}

/** Per open handle: where the next sequential read would start and how far ahead to fetch. */
export interface ReadaheadState {
  nextPos: number;
  window: number;
  /** The long call serving this handle's sequential reads, once its window has grown. */
  stream?: HandleStream;
}

export function newReadahead(): ReadaheadState {
  return { nextPos: 0, window: 0 };
}

/** A block on its way: one fetch or one stream will settle it. */
interface Pending {
  promise: Promise<Buffer>;
  resolve(block: Buffer): void;
  reject(err: unknown): void;
  /** A read waits on it: a stream that stops must still see it delivered. */
  wanted: boolean;
}

interface HandleStream {
  version: FileVersion;
  blocks: BlockStream;
  /** Blocks up to here have been asked of it (registered as pending unless already there). */
  registeredThrough: number;
  /** The pending blocks it is to settle, by index. */
  owned: Map<number, Pending>;
}

/**
 * A sequential reader is served by one long call once its window has reached this many blocks
 * (or the largest window): a read of a few blocks, like `head` or `file`, starts no long call.
 */
const STREAM_AFTER_BLOCKS = 4;

/**
 * Reads committed file versions through the block cache. A sequential reader gets a readahead
 * window that doubles up to `readaheadMax`. While the window is small, contiguous missing blocks
 * are fetched with one readChunks call each; once it has grown, the handle keeps one long call
 * (a BlockStream) running to the file's end, paced to stay a window ahead of the reader, and
 * each block is handed on as soon as its bytes have come.
 *
 * Versions never mix: a fetch stats the file after its bytes came, and a stream before it hands
 * on its first block (all its bytes come from the one chunk list it located). If the version
 * changed underneath (another client replaced the file), the read fails with ESTALE.
 */
export class RemoteReader {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly backend: FsBackend,
    private readonly cache: BlockCache,
    private readonly opts: RemoteReaderOptions,
  ) {}

  async read(version: FileVersion, pos: number, len: number, out: Buffer, ra: ReadaheadState): Promise<number> {
    if (pos >= version.size || len <= 0) return 0;
    const bs = this.opts.blockSize;
    const end = Math.min(version.size, pos + len);
    const first = Math.floor(pos / bs);
    const last = Math.floor((end - 1) / bs);

    // The kernel sends its own readahead requests concurrently, so they may arrive a
    // little out of order: anything within a block of the expected position counts.
    const sequential = Math.abs(pos - ra.nextPos) <= bs;
    ra.window = sequential ? Math.min(this.opts.readaheadMax, Math.max(bs, ra.window * 2)) : 0;
    ra.nextPos = sequential ? Math.max(ra.nextPos, end) : end;

    const lastBlock = Math.floor((version.size - 1) / bs);
    const horizon = Math.min(lastBlock, Math.floor((end + ra.window - 1) / bs));
    if (!sequential) this.stopStream(ra);
    else if (ra.window > 0 && ra.window >= Math.min(this.opts.readaheadMax, STREAM_AFTER_BLOCKS * bs)) this.stream(version, ra, first, horizon);

    const needed = this.blocks(version, first, last);
    if (ra.window > 0 && !ra.stream) this.readAhead(version, last, horizon, ra.window);

    let copied = 0;
    for (let i = first; i <= last; i++) {
      const block = await needed[i - first]!;
      const blockStart = i * bs;
      const from = Math.max(pos, blockStart) - blockStart;
      const to = Math.min(end, blockStart + block.length) - blockStart;
      if (to <= from) break;
      block.copy(out, copied, from, to);
      copied += to - from;
    }
    return copied;
  }

  /** The handle is closed: its stream, if any, is cancelled. */
  forget(ra: ReadaheadState): void {
    this.stopStream(ra);
  }

  /** Fetches the next half window in one run once fewer than half a window is buffered ahead. */
  private readAhead(version: FileVersion, last: number, horizon: number, window: number): void {
    const bs = this.opts.blockSize;
    let firstMissing = last + 1;
    while (firstMissing <= horizon && this.isAvailable(version, firstMissing)) firstMissing++;
    if (firstMissing > horizon) return;
    if ((firstMissing - last - 1) * bs >= window / 2) return;
    for (const p of this.blocks(version, firstMissing, horizon, false)) p.catch(() => undefined);
  }

  /** Keeps the handle's stream running and asked for every block through `horizon`. */
  private stream(version: FileVersion, ra: ReadaheadState, first: number, horizon: number): void {
    let s = ra.stream;
    if (s && (s.blocks.ended || s.version !== version || first > s.registeredThrough + 1)) {
      this.stopStream(ra);
      s = undefined;
    }
    if (!s) {
      let start = first;
      while (start <= horizon && this.isAvailable(version, start)) start++;
      if (start * this.opts.blockSize >= version.size) return;
      s = this.startStream(version, ra, start);
    }
    for (let i = s.registeredThrough + 1; i <= horizon; i++) {
      if (i < s.blocks.nextBlock || this.isAvailable(version, i)) continue;
      s.owned.set(i, this.register(this.key(version, i), false));
    }
    s.registeredThrough = Math.max(s.registeredThrough, horizon);
    s.blocks.allow(s.registeredThrough);
  }

  private startStream(version: FileVersion, ra: ReadaheadState, start: number): HandleStream {
    const bs = this.opts.blockSize;
    const s: HandleStream = {
      version,
      registeredThrough: start - 1,
      owned: new Map(),
      blocks: new BlockStream({
        firstBlock: start,
        blockSize: bs,
        fileSize: version.size,
        source: (signal) => this.backend.readChunks(version.remotePath, { start: start * bs, end: version.size - 1, signal }),
        verify: () => this.checkVersion(version, 'changed since it was opened'),
        sink: {
          block: (index, bytes) => {
            const key = this.key(version, index);
            this.cache.set(key, bytes);
            const p = s.owned.get(index);
            if (!p) return;
            s.owned.delete(index);
            this.settled(key, p);
            p.resolve(bytes);
          },
          failed: (err) => {
            if (ra.stream === s) ra.stream = undefined;
            void this.explain(version, err).then((reason) => {
              for (const [index, p] of s.owned) {
                this.settled(this.key(version, index), p);
                p.reject(reason);
              }
              s.owned.clear();
            });
          },
        },
      }),
    };
    ra.stream = s;
    return s;
  }

  /**
   * Cancels the handle's stream. Blocks it still owed that a read waits for (this handle's or
   * another's) are fetched on their own; the others are forgotten.
   */
  private stopStream(ra: ReadaheadState): void {
    const s = ra.stream;
    if (!s) return;
    ra.stream = undefined;
    s.blocks.stop();
    const wanted: Array<[number, Pending]> = [];
    for (const [index, p] of s.owned) {
      if (p.wanted) {
        wanted.push([index, p]);
        continue;
      }
      this.settled(this.key(s.version, index), p);
      p.reject(new FsError('EIO', 'readahead cancelled', { expected: true }));
    }
    s.owned.clear();
    // Owed blocks are in order: fetch each contiguous run with one call.
    for (let i = 0; i < wanted.length; ) {
      let j = i;
      while (j + 1 < wanted.length && wanted[j + 1]![0] === wanted[j]![0] + 1) j++;
      this.fetchInto(s.version, wanted[i]![0], wanted.slice(i, j + 1).map(([, p]) => p));
      i = j + 1;
    }
  }

  private isAvailable(version: FileVersion, index: number): boolean {
    const key = this.key(version, index);
    return this.pending.has(key) || this.cache.get(key) !== undefined;
  }

  private key(version: FileVersion, index: number): string {
    return `${versionKey(version)}\0${index}`;
  }

  private register(key: string, wanted: boolean): Pending {
    let resolve!: (b: Buffer) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<Buffer>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // a block nobody reads may fail unobserved
    const p: Pending = { promise, resolve, reject, wanted };
    this.pending.set(key, p);
    return p;
  }

  private settled(key: string, p: Pending): void {
    if (this.pending.get(key) === p) this.pending.delete(key);
  }

  /** One promise per block in [first, last]; missing contiguous runs become one fetch each. */
  private blocks(version: FileVersion, first: number, last: number, wanted = true): Promise<Buffer>[] {
    const result: Promise<Buffer>[] = [];
    let runStart = -1;
    const flush = (runEnd: number): void => {
      if (runStart < 0) return;
      const run: Pending[] = [];
      for (let i = runStart; i <= runEnd; i++) run.push(this.register(this.key(version, i), wanted));
      this.fetchInto(version, runStart, run);
      result.push(...run.map((p) => p.promise));
      runStart = -1;
    };
    for (let i = first; i <= last; i++) {
      const key = this.key(version, i);
      const cached = this.cache.get(key);
      const pending = cached === undefined ? this.pending.get(key) : undefined;
      if (cached === undefined && pending === undefined) {
        if (runStart < 0) runStart = i;
        continue;
      }
      flush(i - 1);
      if (pending && wanted) pending.wanted = true;
      result.push(cached !== undefined ? Promise.resolve(cached) : pending!.promise);
    }
    flush(last);
    return result;
  }

  /** Fetches blocks first, first + 1, … with one call and settles `run` (one Pending each). */
  private fetchInto(version: FileVersion, first: number, run: Pending[]): void {
    const bs = this.opts.blockSize;
    const last = first + run.length - 1;
    const start = first * bs;
    const endExclusive = Math.min(version.size, (last + 1) * bs);
    // A file of one block comes from a single locate, so it is one whole version; asking
    // for one byte more than its size proves the size matches, and no stat is needed.
    const wholeSmallFile = version.size <= bs;
    void (async () => {
      try {
        const data = await this.readRange(version.remotePath, start, endExclusive, wholeSmallFile);
        if (!data) throw new FsError('ESTALE', `${version.remotePath} changed since it was opened`);
        if (!wholeSmallFile) await this.checkVersion(version, 'changed while being read');
        for (let i = first; i <= last; i++) {
          const from = (i - first) * bs;
          const block = data.subarray(from, Math.min(data.length, from + bs));
          this.cache.set(this.key(version, i), block);
          this.settled(this.key(version, i), run[i - first]!);
          run[i - first]!.resolve(block);
        }
      } catch (err) {
        for (let i = first; i <= last; i++) {
          this.settled(this.key(version, i), run[i - first]!);
          run[i - first]!.reject(err);
        }
      }
    })();
  }

  private async checkVersion(version: FileVersion, what: string): Promise<void> {
    const now = await this.backend.tryStat(version.remotePath);
    if (!isSameVersion(version, now)) throw new FsError('ESTALE', `${version.remotePath} ${what}`);
  }

  /** A failed long read of a file that has since been replaced is ESTALE, not the chunk's error. */
  private async explain(version: FileVersion, err: unknown): Promise<unknown> {
    if (err instanceof FsError) return err;
    try {
      await this.checkVersion(version, 'changed while being read');
      return err;
    } catch (stale) {
      return stale;
    }
  }

  /**
   * Bytes [start, endExclusive). With `exact`, also asks for the byte after them and
   * returns null unless the file ends exactly at endExclusive.
   */
  private async readRange(remotePath: string, start: number, endExclusive: number, exact = false): Promise<Buffer | null> {
    const data = Buffer.allocUnsafe(endExclusive - start);
    let filled = 0;
    let extra = 0;
    for await (const piece of this.backend.readChunks(remotePath, { start, end: exact ? endExclusive : endExclusive - 1 })) {
      const take = Math.min(piece.length, data.length - filled);
      piece.copy(data, filled, 0, take);
      filled += take;
      extra += piece.length - take;
    }
    if (exact && (extra > 0 || filled !== data.length)) return null;
    if (filled !== data.length) throw new FsError('EIO', `${remotePath}: short read (${filled} of ${data.length} bytes at ${start})`);
    return data;
  }
}
