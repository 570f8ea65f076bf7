import type { Logger } from '@dfs/telemetry';
import { BLOCK_SIZE, ErrorCode, crc32cOf, toDfsError } from '@dfs/proto';
import type { ChunkRecord, ChunkStore } from './chunk-store.js';
import { readVerifiedBlocks } from './read-path.js';
import { pause, type Throttle } from './throttle.js';

/*
 * The background scrubber (HDFS BlockScanner / GFS §5.2 idle-period verification): every
 * `intervalMs` it re-reads every replica at a limited byte rate and checks every block CRC and
 * the whole-chunk CRC. A corrupt replica is quarantined by the store, which removes it from
 * service and reports it to the master (corrupt_handles + ReportBadReplica); the master then
 * re-replicates it from a good copy. Bit rot in chunks nobody reads is found this way.
 */
export interface ScrubberOptions {
  store: ChunkStore;
  log: Logger;
  intervalMs: number;
  throttle: Throttle;
  signal: AbortSignal;
}

export interface ScrubStats {
  passes: number;
  chunksVerified: number;
  bytesVerified: number;
  corruptFound: number;
}

export class Scrubber {
  readonly stats: ScrubStats = { passes: 0, chunksVerified: 0, bytesVerified: 0, corruptFound: 0 };
  private loop?: Promise<void>;

  constructor(private readonly opts: ScrubberOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Resolves once the loop has exited (after the signal aborted). */
  async stopped(): Promise<void> {
    await this.loop;
  }

  private async run(): Promise<void> {
    const { signal, intervalMs, log } = this.opts;
    while (!signal.aborted) {
      await pause(intervalMs, signal);
      if (signal.aborted) break;
      try {
        await this.pass();
      } catch (err) {
        log.warn({ err: toDfsError(err).message }, 'scrubber pass failed');
      }
    }
  }

  /** Verifies every replica once. */
  async pass(): Promise<void> {
    const started = Date.now();
    for (const record of this.opts.store.list()) {
      if (this.opts.signal.aborted) return;
      await this.verify(record);
    }
    this.stats.passes++;
    this.opts.log.debug({ ms: Date.now() - started, chunks: this.opts.store.count }, 'scrubber pass done');
  }

  private async verify(record: ChunkRecord): Promise<void> {
    const { store, throttle, signal } = this.opts;
    if (store.get(record.handle) !== record) return; // replaced or deleted meanwhile
    let opened;
    try {
      opened = await store.openForRead(record.handle);
    } catch (err) {
      if (toDfsError(err).code === ErrorCode.CHECKSUM_MISMATCH) this.stats.corruptFound++;
      return;
    }
    const { record: current, fh } = opened;
    try {
      let crc = 0;
      for await (const b of readVerifiedBlocks(store, current, fh, 0, Math.ceil(current.length / BLOCK_SIZE), 0)) {
        crc = crc32cOf(b.buf.subarray(0, b.len), crc);
        this.stats.bytesVerified += b.len;
        await throttle.take(b.len, signal);
      }
      if (crc >>> 0 !== current.crc32c >>> 0) {
        if (await store.quarantine(current, `whole-chunk checksum ${crc >>> 0} does not match stored ${current.crc32c >>> 0}`)) this.stats.corruptFound++;
      }
      this.stats.chunksVerified++;
    } catch (err) {
      const d = toDfsError(err);
      if (d.code === ErrorCode.CHECKSUM_MISMATCH) this.stats.corruptFound++;
      else if (!signal.aborted) this.opts.log.warn({ handle: current.handle, err: d.message }, 'scrubber could not verify replica');
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}
