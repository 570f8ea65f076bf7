import { createReadStream, mkdirSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@dfs/telemetry';
import type { MetadataStore } from '../state/metadata-store.js';
import { writeBackup, type BackupHeader } from './backup-file.js';

export interface ScheduledBackups {
  everyMs: number;
  dir: string;
  /** Backup files kept in `dir` (the oldest beyond this are removed). */
  keep: number;
}

export interface LastBackup {
  header: BackupHeader;
  /** Where it went: a file in the backup directory, or 'streamed' to a `dfs admin backup`. */
  to: string;
  ms: number;
}

/** dfs-meta-<UTC time>-<applied index, 12 digits>.dfsbak: names sort oldest first. */
const SCHEDULED_NAME = /^dfs-meta-\d{8}T\d{6}Z-\d{12,}\.dfsbak$/;

/**
 * The metadata backups this master takes: on demand (BackupMetadata, streamed to
 * `dfs admin backup`) and on a schedule (`--backup-every`). One at a time: each VACUUM INTO
 * blocks this master's event loop for its duration, so the client prefers a follower.
 */
export class MetadataBackups {
  private lastBackup: LastBackup | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly scratch: string;

  constructor(
    private readonly store: MetadataStore,
    private readonly masterId: string,
    masterDir: string,
    private readonly logger: Logger,
  ) {
    this.scratch = join(masterDir, 'backup-scratch');
  }

  last(): LastBackup | undefined {
    return this.lastBackup;
  }

  /** Runs `fn` after every backup already running (one at a time). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.running.then(fn, fn);
    this.running = next.catch(() => undefined);
    return next;
  }

  /** Takes a backup into a scratch file and hands its bytes to `send` (which may apply back-pressure), then removes it. */
  stream(send: (piece: Buffer) => Promise<void>): Promise<BackupHeader> {
    return this.serial(async () => {
      mkdirSync(this.scratch, { recursive: true });
      const file = join(this.scratch, `streamed-${process.pid}-${Date.now()}.dfsbak`);
      try {
        const started = Date.now();
        const header = await writeBackup(this.store, this.masterId, file);
        for await (const piece of createReadStream(file, { highWaterMark: 1 << 20 })) await send(piece as Buffer);
        this.lastBackup = { header, to: 'streamed', ms: Date.now() - started };
        this.logger.info({ appliedIndex: header.appliedIndex, bytes: header.bytes }, 'metadata backup streamed');
        return header;
      } finally {
        await fsp.rm(file, { force: true });
      }
    });
  }

  /** Takes one backup into `s.dir` now and keeps the newest `s.keep` there. */
  takeScheduled(s: ScheduledBackups): Promise<BackupHeader> {
    return this.serial(async () => {
      mkdirSync(s.dir, { recursive: true });
      const started = Date.now();
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const path = join(s.dir, `dfs-meta-${stamp}-${String(this.store.appliedIndex()).padStart(12, '0')}.dfsbak`);
      const header = await writeBackup(this.store, this.masterId, path);
      this.lastBackup = { header, to: path, ms: Date.now() - started };
      const ours = (await fsp.readdir(s.dir)).filter((f) => SCHEDULED_NAME.test(f)).sort();
      for (const old of ours.slice(0, Math.max(0, ours.length - s.keep))) await fsp.rm(join(s.dir, old), { force: true });
      this.logger.info({ path, appliedIndex: header.appliedIndex, bytes: header.bytes }, 'scheduled metadata backup written');
      return header;
    });
  }

  /** Starts the schedule: the first backup one period from now. */
  schedule(s: ScheduledBackups): void {
    this.timer = setInterval(() => {
      this.takeScheduled(s).catch((err: unknown) => this.logger.error({ err }, 'scheduled metadata backup failed'));
    }, s.everyMs);
    this.timer.unref();
  }

  /** Stops the schedule and waits for a backup in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
