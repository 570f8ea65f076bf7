import type { FsBackend } from './backend.js';
import type { BlockCache } from './block-cache.js';
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
}

export function newReadahead(): ReadaheadState {
  return { nextPos: 0, window: 0 };
}

/**
 * Reads committed file versions through the block cache. A sequential reader gets a
 * readahead window that doubles up to `readaheadMax`; contiguous missing blocks are
 * fetched with one readChunks call. After each fetch the file is stat'ed again: if the
 * version changed underneath (another client replaced the file), the bytes are dropped
 * and the read fails with ESTALE rather than mixing two versions.
 */
export class RemoteReader {
  private readonly inflight = new Map<string, Promise<Buffer>>();

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

    const needed = this.blocks(version, first, last);
    if (ra.window > 0) this.readAhead(version, last, end, ra.window);

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

  /** Fetches the next half window in one run once fewer than half a window is buffered ahead. */
  private readAhead(version: FileVersion, last: number, end: number, window: number): void {
    const bs = this.opts.blockSize;
    const lastBlock = Math.floor((version.size - 1) / bs);
    const horizon = Math.min(lastBlock, Math.floor((end + window - 1) / bs));
    let firstMissing = last + 1;
    while (firstMissing <= horizon && this.isAvailable(version, firstMissing)) firstMissing++;
    if (firstMissing > horizon) return;
    if ((firstMissing - last - 1) * bs >= window / 2) return;
    for (const p of this.blocks(version, firstMissing, horizon)) p.catch(() => undefined);
  }

  private isAvailable(version: FileVersion, index: number): boolean {
    const key = this.key(version, index);
    return this.inflight.has(key) || this.cache.get(key) !== undefined;
  }

  private key(version: FileVersion, index: number): string {
    return `${versionKey(version)}\0${index}`;
  }

  /** One promise per block in [first, last]; missing contiguous runs become one fetch each. */
  private blocks(version: FileVersion, first: number, last: number): Promise<Buffer>[] {
    const result: Promise<Buffer>[] = [];
    let runStart = -1;
    const flush = (runEnd: number): void => {
      if (runStart < 0) return;
      result.push(...this.fetch(version, runStart, runEnd));
      runStart = -1;
    };
    for (let i = first; i <= last; i++) {
      const key = this.key(version, i);
      const cached = this.cache.get(key);
      const pending = cached === undefined ? this.inflight.get(key) : undefined;
      if (cached === undefined && pending === undefined) {
        if (runStart < 0) runStart = i;
        continue;
      }
      flush(i - 1);
      result.push(cached !== undefined ? Promise.resolve(cached) : pending!);
    }
    flush(last);
    return result;
  }

  private fetch(version: FileVersion, first: number, last: number): Promise<Buffer>[] {
    const bs = this.opts.blockSize;
    const settle: Array<{ resolve: (b: Buffer) => void; reject: (e: unknown) => void }> = [];
    const promises: Promise<Buffer>[] = [];
    for (let i = first; i <= last; i++) {
      const p = new Promise<Buffer>((resolve, reject) => settle.push({ resolve, reject }));
      this.inflight.set(this.key(version, i), p);
      promises.push(p);
    }
    const start = first * bs;
    const endExclusive = Math.min(version.size, (last + 1) * bs);
    // A file of one block comes from a single locate, so it is one whole version; asking
    // for one byte more than its size proves the size matches, and no stat is needed.
    const wholeSmallFile = version.size <= bs;
    void (async () => {
      try {
        const data = await this.readRange(version.remotePath, start, endExclusive, wholeSmallFile);
        if (!data) throw new FsError('ESTALE', `${version.remotePath} changed since it was opened`);
        if (!wholeSmallFile) {
          const now = await this.backend.tryStat(version.remotePath);
          if (!isSameVersion(version, now)) throw new FsError('ESTALE', `${version.remotePath} changed while being read`);
        }
        for (let i = first; i <= last; i++) {
          const from = (i - first) * bs;
          const block = data.subarray(from, Math.min(data.length, from + bs));
          this.cache.set(this.key(version, i), block);
          settle[i - first]!.resolve(block);
        }
      } catch (err) {
        for (const s of settle) s.reject(err);
      } finally {
        for (let i = first; i <= last; i++) this.inflight.delete(this.key(version, i));
      }
    })();
    return promises;
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
