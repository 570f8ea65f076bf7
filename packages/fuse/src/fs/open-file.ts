import type { FileVersion } from './file-version.js';
import { Spool } from './spool.js';
import type { StreamingUpload } from './streaming-upload.js';

/** Copies the first `bytes` of a committed version into a spool. */
export type SpoolFiller = (spool: Spool, version: FileVersion, bytes: number) => Promise<void>;

/**
 * Everything this mount knows about one file that has open handles: the committed
 * version it started from, and once written or truncated, the local spool that holds
 * its whole new content. While a spool exists it is the truth for this mount (every
 * process here sees its writes at once); other clients see it only after a commit.
 */
export class OpenFile {
  readonly handles = new Set<number>();
  /** Bumped by every local change; equal to committedGen when nothing is pending. */
  dirtyGen = 0;
  committedGen = 0;
  /** Unlinked (or renamed over) while open: its content lives on locally and is never committed. */
  orphan = false;
  /** The write-behind upload of a file written sequentially from empty, while it lasts. */
  upload: StreamingUpload | undefined;
  /**
   * Written only by appends since it was empty (undefined: not written yet). Write-behind
   * streams only such a file, and once this turns false never again for this open file.
   */
  streamable: boolean | undefined;
  private spool: Spool | undefined;
  private spooling: Promise<Spool> | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    /** Mount-relative path; follows renames. */
    public path: string,
    /** The committed version the content starts from; null for a file created here and not yet committed. */
    public base: FileVersion | null,
    /** Permission bits the next commit gives the file. */
    public mode: number,
    /** Time of the last local change (ms). */
    public mtimeMs: number,
    private readonly spoolDir: string,
    private readonly fill: SpoolFiller,
    /** A spool stays in memory up to this size (spool.ts). */
    private readonly spoolMemoryBytes = 0,
  ) {}

  get dirty(): boolean {
    return this.dirtyGen !== this.committedGen;
  }

  /** The spool when one exists or is being made (awaited), else undefined. */
  async currentSpool(): Promise<Spool | undefined> {
    return this.spool ?? (this.spooling ? await this.spooling : undefined);
  }

  get spoolSize(): number | undefined {
    return this.spool?.size;
  }

  /**
   * The spool, made on first need with the first `keep` bytes of the base version
   * copied in (0 for a truncate to zero or a new file: nothing is downloaded).
   */
  ensureSpool(keep: number): Promise<Spool> {
    if (this.spool) return Promise.resolve(this.spool);
    this.spooling ??= (async () => {
      const spool = await Spool.create(this.spoolDir, this.spoolMemoryBytes);
      try {
        const bytes = this.base ? Math.min(keep, this.base.size) : 0;
        if (bytes > 0) await this.fill(spool, this.base!, bytes);
      } catch (err) {
        await spool.dispose();
        this.spooling = undefined;
        throw err;
      }
      this.spool = spool;
      return spool;
    })();
    return this.spooling;
  }

  /** Records a local change made at `nowMs`. */
  touch(nowMs: number): void {
    this.dirtyGen++;
    this.mtimeMs = nowMs;
  }

  /** Runs `task` after every earlier serialised task on this file (commits never overlap). */
  serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Stops write-behind (a non-sequential change); the commit will upload the whole spool. */
  stopUpload(): void {
    this.streamable = false;
    this.upload?.abort();
    this.upload = undefined;
  }

  async dispose(): Promise<void> {
    this.stopUpload();
    const spool = await this.currentSpool().catch(() => undefined);
    this.spool = undefined;
    this.spooling = undefined;
    await spool?.dispose();
  }
}
