import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { CheckpointReply, CheckpointWorkerData } from './wal-checkpoint-worker.js';

/*
 * SQLite's automatic WAL checkpoint, moved off the event loop. By default the connection
 * whose commit pushes the WAL past 1,000 pages copies them into the database and fsyncs
 * twice, inside that commit: on a master under creates, every ~50 commands and on every
 * master, stalling its Raft loop for the copy and both fsyncs (packages/master/DESIGN.md,
 * "CPU per create"). Here the owner's connection never checkpoints (wal_autocheckpoint = 0)
 * and a worker thread, on a connection of its own, runs a PASSIVE checkpoint once the WAL
 * holds `thresholdPages` frames not yet copied (SQLite's own rule: 1,000), looking at most
 * once per `intervalMs` after writes. Durability is unchanged: what a commit made durable is in
 * the WAL either way, and a checkpoint syncs the WAL before copying and the database after,
 * whichever connection runs it.
 *
 * If the worker fails, the owner's connection goes back to checkpointing itself.
 */
export interface WalCheckpointerOptions {
  synchronous: 'FULL' | 'NORMAL' | 'OFF';
  /** Frames not yet copied that make a checkpoint worth its two fsyncs (default 1,000, as SQLite). */
  thresholdPages?: number;
  /** The worker looks at the WAL at most once per this many ms (default 20), after writes. */
  intervalMs?: number;
  /** Told of a worker failure (the owner then checkpoints itself again). */
  onError?: (message: string) => void;
}

const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly intervalMs: number;
  private busy = false;
  private lastAt = -Infinity;
  private failed = false;
  private closing: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];
  /** Checkpoints run, and the last one's WAL frames (log) and frames copied (checkpointed). */
  readonly stats = { runs: 0, log: 0, checkpointed: 0 };

  constructor(
    owner: Database.Database,
    opts: WalCheckpointerOptions,
  ) {
    this.intervalMs = opts.intervalMs ?? 20;
    owner.pragma('wal_autocheckpoint = 0');
    const data: CheckpointWorkerData = { path: owner.name, synchronous: opts.synchronous, thresholdPages: opts.thresholdPages ?? DEFAULT_AUTOCHECKPOINT_PAGES };
    this.worker = new Worker(join(__dirname, 'wal-checkpoint-worker.js'), { workerData: data });
    const fail = (message: string): void => {
      if (this.failed || this.closing) return;
      this.failed = true;
      if (owner.open) owner.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
      opts.onError?.(message);
      this.settle();
    };
    this.worker.on('message', (r: CheckpointReply) => {
      if ('error' in r) return fail(r.error);
      if ('closed' in r) return;
      if (r.ran) {
        this.stats.runs++;
        this.stats.log = r.log;
        this.stats.checkpointed = r.checkpointed;
      }
      this.busy = false;
      this.lastAt = performance.now();
      this.settle();
    });
    // A SqliteError thrown in the worker arrives as a plain object ({ code }) without its message.
    this.worker.on('error', (err: unknown) => fail((err as { message?: string }).message ?? JSON.stringify(err)));
    this.worker.unref(); // never what keeps a process alive (after the listeners: they ref it)
  }

  /** After a write transaction on the owner's connection: a checkpoint will follow. */
  written(): void {
    if (this.failed || this.closing) return;
    if (this.busy || performance.now() - this.lastAt < this.intervalMs) return;
    this.busy = true;
    this.worker.postMessage('checkpoint');
  }

  /** Resolves when the worker is not looking at the WAL or checkpointing (tests). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    this.worker.ref(); // a waiter keeps the process alive until the answer
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private settle(): void {
    if (this.busy && !this.failed) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    if (waiters.length > 0) this.worker.unref();
    for (const w of waiters) w();
  }

  /**
   * Closes the worker's connection and ends the thread; awaited before the owner's database
   * file is replaced (a restore), so no connection to the old file outlives it.
   */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      if (this.failed) void this.worker.terminate();
      else this.worker.postMessage('close');
    });
    return this.closing;
  }
}
