import { mkdir, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@dfs/telemetry';
import { BLOCK_SIZE, DfsError, ErrorCode, crc32cCombine, crc32cOf, toDfsError } from '@dfs/proto';
import { checkHandle, handleStem, parseChunkId } from './chunk-id.js';
import { decodeMeta, encodeMeta, type ChunkMeta } from './meta-format.js';
import { errnoOf, forEachLimit, fsyncDir, renameQuiet, unlinkQuiet } from './fs-util.js';
import type { ChunkserverFaultInjector } from './fault-injector.js';

/*
 * The chunk store: every replica this chunkserver holds, on disk under `dir` only.
 *
 *   dir/chunks/<handle>.meta               committed metadata (meta-format.ts) — the commit point
 *   dir/chunks/<handle>.<generation>.data  the bytes; the meta names its generation
 *   dir/tmp/                               new data files and meta files being written; wiped at start
 *   dir/corrupt/                           replicas found corrupt, moved aside (never served)
 *
 * Invariants:
 * - A record in `records` always describes a committed meta file whose data file exists and
 *   holds at least `length` bytes. Records are immutable snapshots, replaced on commit.
 * - Bytes below a record's `length` never change while that record is current: appends write
 *   only beyond it, and a rewrite (offset 0) goes to a new generation.
 * - At most one writer per handle.
 */

/** One committed replica. Immutable: a commit installs a new object. */
export interface ChunkRecord extends Readonly<ChunkMeta> {
  readonly blockCrcs: readonly number[];
  readonly dataPath: string;
}

export interface ChunkStoreHooks {
  /** A replica was committed (new chunk, append or copy). */
  onCommit?(record: ChunkRecord): void;
  /** A replica was found corrupt and removed from service. */
  onCorrupt?(handle: number, reason: string): void;
}

export interface ChunkStoreOptions {
  dir: string;
  log: Logger;
  faultInjector: ChunkserverFaultInjector;
  hooks?: ChunkStoreHooks;
  /** Optional quota: writes fail with NO_SPACE past this many stored bytes. */
  capacityBytes?: number;
}

export interface BeginWrite {
  handle: number;
  version: number;
  /** 0 for a new chunk (replacing any older replica), the current length to append. */
  offset: number;
  /** Maximum length of the chunk. */
  chunkSize: number;
}

/** Outstanding positional writes per writer: enough to overlap disk and network, bounded memory. */
const WRITE_WINDOW = 4;
/**
 * Consecutive frames are gathered into one positional `writev` of up to this many bytes: one
 * thread-pool round trip and one syscall per 1 MiB instead of per 64 KiB frame.
 */
const WRITE_BATCH_BYTES = 1024 * 1024;
/**
 * A background fdatasync is started every this many bytes, so that the disk flushes while
 * the rest of the chunk streams in and the final fdatasync before the ack is short.
 */
const EARLY_SYNC_BYTES = 8 * 1024 * 1024;

export class ChunkStore {
  readonly chunksDir: string;
  readonly tmpDir: string;
  readonly corruptDir: string;
  /** Handles whose metadata was unreadable at startup; reported to the master, then cleared by the caller. */
  readonly corruptAtLoad: number[] = [];
  private readonly records = new Map<number, ChunkRecord>();
  private readonly writers = new Map<number, ChunkWriter>();
  private nextGeneration = 1;
  private tmpSeq = 0;
  private used = 0;
  /** Bytes written by writers that have not committed yet (for the quota). */
  inflightBytes = 0;

  private constructor(private readonly opts: ChunkStoreOptions) {
    this.chunksDir = join(opts.dir, 'chunks');
    this.tmpDir = join(opts.dir, 'tmp');
    this.corruptDir = join(opts.dir, 'corrupt');
  }

  /** Opens (creating if needed) the store under `dir`, discarding temp files and orphans. */
  static async open(opts: ChunkStoreOptions): Promise<ChunkStore> {
    const store = new ChunkStore(opts);
    await store.load();
    return store;
  }

  get log(): Logger {
    return this.opts.log;
  }
  get faultInjector(): ChunkserverFaultInjector {
    return this.opts.faultInjector;
  }
  get capacityBytes(): number | undefined {
    return this.opts.capacityBytes;
  }
  get usedBytes(): number {
    return this.used;
  }
  get count(): number {
    return this.records.size;
  }
  get activeWrites(): number {
    return this.writers.size;
  }

  get(handle: number): ChunkRecord | undefined {
    return this.records.get(handle);
  }

  list(): ChunkRecord[] {
    return [...this.records.values()];
  }

  isWriting(handle: number): boolean {
    return this.writers.has(handle);
  }

  dataPath(handle: number, generation: number): string {
    return join(this.chunksDir, `${handleStem(handle)}.${generation}.data`);
  }

  metaPath(handle: number): string {
    return join(this.chunksDir, `${handleStem(handle)}.meta`);
  }

  /**
   * Starts a write: a new chunk at offset 0, or an append at exactly the current length.
   * Takes the per-handle write lock synchronously (a concurrent writer gets UNAVAILABLE).
   */
  async beginWrite(req: BeginWrite): Promise<ChunkWriter> {
    const handle = checkHandle(req.handle);
    if (this.writers.has(handle)) {
      throw new DfsError(ErrorCode.UNAVAILABLE, `chunk ${handle} is being written by another request`);
    }
    const existing = this.records.get(handle);
    if (req.offset === 0) {
      if (existing && existing.version > req.version) {
        throw new DfsError(ErrorCode.STALE_VERSION, `chunk ${handle}: write version ${req.version} is older than stored version ${existing.version}`);
      }
    } else {
      if (!existing) throw new DfsError(ErrorCode.UNKNOWN_CHUNK, `chunk ${handle} is not stored here; cannot append at offset ${req.offset}`);
      if (req.version < existing.version) {
        throw new DfsError(ErrorCode.STALE_VERSION, `chunk ${handle}: append version ${req.version} is older than stored version ${existing.version}`);
      }
      if (req.offset !== existing.length) {
        throw new DfsError(ErrorCode.INVALID_ARGUMENT, `chunk ${handle}: append offset ${req.offset} does not match its length ${existing.length}`);
      }
    }
    if (req.offset > req.chunkSize) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, `chunk ${handle}: offset ${req.offset} is past chunk_size ${req.chunkSize}`);
    }
    const base = req.offset === 0 ? undefined : existing;
    const generation = base ? base.generation : this.nextGeneration++;
    const path = base ? base.dataPath : join(this.tmpDir, `${handleStem(handle)}.${generation}.data`);
    const writer = new ChunkWriter(this, handle, req.version, req.chunkSize, generation, path, base);
    this.writers.set(handle, writer);
    try {
      await writer.open();
    } catch (err) {
      this.writers.delete(handle);
      throw toDfsError(err);
    }
    return writer;
  }

  /** Called by a writer when it finishes (commit or abort). */
  release(writer: ChunkWriter): void {
    if (this.writers.get(writer.handle) === writer) this.writers.delete(writer.handle);
  }

  /** Installs a committed record (called by ChunkWriter.commit after the meta rename is durable). */
  install(record: ChunkRecord): void {
    const old = this.records.get(record.handle);
    if (old) this.used -= old.length;
    this.records.set(record.handle, record);
    this.used += record.length;
    if (old && old.generation !== record.generation) {
      unlinkQuiet(old.dataPath).catch((err) => this.log.warn({ err, handle: record.handle }, 'could not remove replaced data file'));
    }
    this.opts.hooks?.onCommit?.(record);
  }

  private dirSyncRunning: Promise<void> | undefined;
  private dirSyncNext: Promise<void> | undefined;

  /**
   * fsync of chunks/ with group commit: a caller whose rename happened while an fsync was
   * already running waits for the *next* one, and everyone who arrives meanwhile shares that
   * next fsync. Concurrent small writes then cost about two directory fsyncs per batch instead
   * of one each (all replicas of this box share one disk and its journal).
   */
  syncChunksDir(): Promise<void> {
    if (this.dirSyncNext) return this.dirSyncNext;
    if (!this.dirSyncRunning) {
      const run = fsyncDir(this.chunksDir).finally(() => {
        if (this.dirSyncRunning === run) this.dirSyncRunning = undefined;
      });
      this.dirSyncRunning = run;
      return run;
    }
    const next = this.dirSyncRunning
      .catch(() => undefined)
      .then(() => {
        this.dirSyncNext = undefined;
        return this.syncChunksDir();
      });
    this.dirSyncNext = next;
    return next;
  }

  /** Writes a meta file to tmp/ durably (fdatasync) and returns its path; `publishMeta` renames it in. */
  async prepareMeta(meta: ChunkMeta): Promise<string> {
    const tmp = join(this.tmpDir, `${handleStem(meta.handle)}.${meta.generation}.meta.${++this.tmpSeq}`);
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(encodeMeta(meta));
      await fh.datasync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlinkQuiet(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    return tmp;
  }

  /** Renames a prepared meta over the current one. Not durable until the caller fsyncs chunks/. */
  async publishMeta(tmp: string, handle: number): Promise<void> {
    const moved = await renameQuiet(tmp, this.metaPath(handle));
    if (!moved) throw new Error(`meta temp file ${tmp} vanished`);
  }

  /** Writes a meta file durably: temp file, fdatasync, rename over the old one, fsync the directory. */
  async writeMeta(meta: ChunkMeta): Promise<void> {
    const tmp = await this.prepareMeta(meta);
    try {
      await this.publishMeta(tmp, meta.handle);
    } catch (err) {
      await unlinkQuiet(tmp).catch(() => undefined);
      throw err;
    }
    await fsyncDir(this.chunksDir);
  }

  /**
   * Removes a replica found corrupt from service: moves its files to corrupt/ and reports it.
   * Only acts if `record` is still the current one (a concurrent rewrite wins).
   */
  async quarantine(record: ChunkRecord, reason: string): Promise<boolean> {
    if (this.records.get(record.handle) !== record) return false;
    this.records.delete(record.handle);
    this.used -= record.length;
    this.writers.get(record.handle)?.invalidate(new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${record.handle} was found corrupt during the write`));
    this.log.warn({ handle: record.handle, reason }, 'replica is corrupt; removed from service');
    try {
      await this.moveAside(record.handle, record.generation);
    } catch (err) {
      this.log.error({ err, handle: record.handle }, 'could not move corrupt replica aside');
    }
    this.opts.hooks?.onCorrupt?.(record.handle, reason);
    return true;
  }

  /** Deletes a replica (master's garbage collection). Returns whether it existed. */
  async delete(handle: number): Promise<boolean> {
    checkHandle(handle);
    this.writers.get(handle)?.invalidate(new DfsError(ErrorCode.UNKNOWN_CHUNK, `chunk ${handle} was deleted during the write`));
    const record = this.records.get(handle);
    await this.removeQuarantined(handle);
    if (!record) return false;
    this.records.delete(handle);
    this.used -= record.length;
    await unlinkQuiet(this.metaPath(handle)); // the commit point goes first
    await unlinkQuiet(record.dataPath);
    await fsyncDir(this.chunksDir);
    return true;
  }

  /** Opens the data file of the current replica for reading, coping with a concurrent rewrite. */
  async openForRead(handle: number): Promise<{ record: ChunkRecord; fh: FileHandle }> {
    for (let attempt = 0; ; attempt++) {
      const record = this.records.get(handle);
      if (!record) throw new DfsError(ErrorCode.UNKNOWN_CHUNK, `chunk ${handle} is not stored on this chunkserver`);
      try {
        return { record, fh: await open(record.dataPath, 'r') };
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw toDfsError(err);
        if (this.records.get(handle) !== record && attempt < 3) continue; // replaced meanwhile: retry
        await this.quarantine(record, 'data file missing');
        throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${handle}: data file is missing on this chunkserver`);
      }
    }
  }

  private async moveAside(handle: number, generation: number): Promise<void> {
    const stem = handleStem(handle);
    await renameQuiet(this.metaPath(handle), join(this.corruptDir, `${stem}.meta`));
    await renameQuiet(this.dataPath(handle, generation), join(this.corruptDir, `${stem}.${generation}.data`));
    await fsyncDir(this.chunksDir);
  }

  private async removeQuarantined(handle: number): Promise<void> {
    const prefix = `${handleStem(handle)}.`;
    let names: string[];
    try {
      names = await readdir(this.corruptDir);
    } catch {
      return;
    }
    for (const name of names) if (name.startsWith(prefix)) await unlinkQuiet(join(this.corruptDir, name));
  }

  private async load(): Promise<void> {
    const log = this.log;
    await mkdir(this.chunksDir, { recursive: true });
    await mkdir(this.corruptDir, { recursive: true });
    // Anything in tmp/ is a write that never committed.
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    // Quarantined replicas were reported before the restart; the master re-replicated them.
    for (const name of await readdir(this.corruptDir)) await rm(join(this.corruptDir, name), { recursive: true, force: true });

    const metas: number[] = [];
    const dataFiles = new Map<string, { handle: number; generation: number }>();
    let maxGeneration = 0;
    for (const name of await readdir(this.chunksDir)) {
      let m = /^(\d+)\.meta$/.exec(name);
      if (m) {
        try {
          metas.push(parseChunkId(m[1]!));
        } catch (err) {
          log.warn({ file: name, err: (err as Error).message }, 'ignoring file with an invalid chunk id');
        }
        continue;
      }
      m = /^(\d+)\.(\d{1,15})\.data$/.exec(name);
      if (m) {
        try {
          const handle = parseChunkId(m[1]!);
          const generation = Number(m[2]);
          dataFiles.set(name, { handle, generation });
          maxGeneration = Math.max(maxGeneration, generation);
        } catch (err) {
          log.warn({ file: name, err: (err as Error).message }, 'ignoring file with an invalid chunk id');
        }
        continue;
      }
      log.warn({ file: name }, 'ignoring unknown file in the chunk directory');
    }
    this.nextGeneration = maxGeneration + 1;

    const referenced = new Set<string>();
    await forEachLimit(metas, 32, async (handle) => {
      let meta: ChunkMeta;
      try {
        meta = decodeMeta(await readFile(this.metaPath(handle)));
        if (meta.handle !== handle) throw new Error(`meta file names chunk ${meta.handle}`);
      } catch (err) {
        await this.loadFailed(handle, undefined, `unreadable metadata: ${(err as Error).message}`);
        return;
      }
      const dataPath = this.dataPath(handle, meta.generation);
      referenced.add(`${handleStem(handle)}.${meta.generation}.data`);
      try {
        const st = await stat(dataPath);
        if (st.size < meta.length) throw new Error(`data file has ${st.size} bytes, metadata says ${meta.length}`);
        if (st.size > meta.length) {
          // The tail of an append that never committed.
          const fh = await open(dataPath, 'r+');
          try {
            await fh.truncate(meta.length);
            await fh.datasync();
          } finally {
            await fh.close();
          }
        }
      } catch (err) {
        const reason = errnoOf(err) === 'ENOENT' ? 'data file missing' : (err as Error).message;
        await this.loadFailed(handle, meta.generation, reason);
        return;
      }
      this.records.set(handle, { ...meta, dataPath });
      this.used += meta.length;
    });
    // Data files no meta refers to: new chunks whose commit never happened, replaced generations.
    for (const [name] of dataFiles) {
      if (!referenced.has(name)) await unlinkQuiet(join(this.chunksDir, name));
    }
    log.info({ chunks: this.records.size, usedBytes: this.used, corrupt: this.corruptAtLoad.length }, 'chunk store loaded');
  }

  private async loadFailed(handle: number, generation: number | undefined, reason: string): Promise<void> {
    this.log.warn({ handle, reason }, 'replica is corrupt at startup; not served');
    this.corruptAtLoad.push(handle);
    try {
      await renameQuiet(this.metaPath(handle), join(this.corruptDir, `${handleStem(handle)}.meta`));
      if (generation !== undefined) await this.moveAside(handle, generation);
    } catch (err) {
      this.log.error({ err, handle }, 'could not move corrupt replica aside');
    }
  }
}

/**
 * Writes one chunk or one append. Frames are verified, checksummed per 64 KiB block and written
 * with positional writes of up to WRITE_BATCH_BYTES, up to WRITE_WINDOW in flight. `sync` makes the bytes durable,
 * `commit` publishes them (rename + meta), `abort` leaves no trace of them.
 */
export class ChunkWriter {
  private fh?: FileHandle;
  private position: number;
  private readonly blockCrcs: number[];
  private chunkCrc: number;
  private readonly pending: Promise<void>[] = [];
  /** Verified frames not yet handed to the disk, contiguous from `batchPosition`. */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batchPosition = 0;
  private failure?: Error;
  private written = 0;
  private done = false;
  private unsynced = 0;
  private earlySync?: Promise<void>;
  /** The new data file has been renamed into chunks/ but no meta names it yet. */
  private renamedTo?: string;
  /** A prepared meta file in tmp/ not yet renamed into chunks/. */
  private metaTmp?: string;

  constructor(
    private readonly store: ChunkStore,
    readonly handle: number,
    readonly version: number,
    readonly chunkSize: number,
    private readonly generation: number,
    private readonly path: string,
    private readonly base: ChunkRecord | undefined,
  ) {
    this.position = base ? base.length : 0;
    this.blockCrcs = base ? [...base.blockCrcs] : [];
    this.chunkCrc = base ? base.crc32c : 0;
  }

  /** Where the next frame goes. */
  get offset(): number {
    return this.position;
  }

  /** CRC32C of the whole chunk as written so far. */
  get crc32c(): number {
    return this.chunkCrc >>> 0;
  }

  async open(): Promise<void> {
    if (this.base) {
      this.fh = await open(this.path, 'r+');
      await this.fh.truncate(this.base.length); // drop the tail of an earlier failed append
    } else {
      this.fh = await open(this.path, 'w');
    }
  }

  /** Fails the write from outside (the replica was deleted or found corrupt meanwhile). */
  invalidate(err: Error): void {
    this.failure ??= err;
  }

  /**
   * Verifies one frame against its CRC32C and queues it for writing. Resolves once the frame
   * is queued and the window has room (not when it is on disk: see `sync`).
   */
  async writeFrame(data: Buffer, crc: number): Promise<void> {
    if (this.failure) throw this.failure;
    const len = data.length;
    if (len > BLOCK_SIZE) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `chunk ${this.handle}: frame of ${len} bytes exceeds ${BLOCK_SIZE}`);
    if (len === 0) return;
    const frameCrc = crc32cOf(data);
    if (frameCrc !== crc >>> 0) {
      throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `chunk ${this.handle}: frame at offset ${this.position} has checksum ${frameCrc >>> 0}, expected ${crc >>> 0}`);
    }
    if (this.position + len > this.chunkSize) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, `chunk ${this.handle}: frame at offset ${this.position} (+${len}) is past chunk_size ${this.chunkSize}`);
    }
    const quota = this.store.capacityBytes;
    if (quota !== undefined && this.store.usedBytes + this.store.inflightBytes + len > quota) {
      throw new DfsError(ErrorCode.NO_SPACE, `chunkserver quota of ${quota} bytes is full`);
    }
    const fi = this.store.faultInjector;
    if (fi.beforeWriteFrame) await fi.beforeWriteFrame(this.handle, this.position);
    if (this.failure) throw this.failure;

    this.updateChecksums(data, frameCrc);
    if (this.batchBytes === 0) this.batchPosition = this.position;
    this.batch.push(data);
    this.batchBytes += len;
    this.position += len;
    this.written += len;
    this.store.inflightBytes += len;
    if (this.batchBytes >= WRITE_BATCH_BYTES) this.flushBatch();
    if (this.pending.length >= WRITE_WINDOW) await this.pending.shift();
    if (this.failure) throw this.failure;
    this.unsynced += len;
    if (this.unsynced >= EARLY_SYNC_BYTES && !this.earlySync) {
      this.unsynced = 0;
      const fh = this.fh!;
      this.earlySync = Promise.all(this.pending)
        .then(() => fh.datasync())
        .then(
          () => {
            this.earlySync = undefined;
          },
          () => {
            this.earlySync = undefined; // the final sync reports errors
          },
        );
    }
  }

  /** Hands the gathered frames to the disk as one positional write. */
  private flushBatch(): void {
    if (this.batchBytes === 0) return;
    const buffers = this.batch;
    const position = this.batchPosition;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.pending.push(
      this.fh!.writev(buffers, position).then(
        ({ bytesWritten }) => {
          // pwritev on a regular file writes everything unless the disk is full.
          if (bytesWritten !== bytes) this.failure ??= new DfsError(ErrorCode.NO_SPACE, `chunk ${this.handle}: short write (${bytesWritten} of ${bytes} bytes)`);
        },
        (err: unknown) => {
          this.failure ??= toDfsError(err);
        },
      ),
    );
  }

  /** Block CRCs continue from the stored CRC of a partial last block: bytes already on disk are not re-read. */
  private updateChecksums(data: Buffer, frameCrc: number): void {
    let pos = this.position;
    let off = 0;
    while (off < data.length) {
      const block = Math.floor(pos / BLOCK_SIZE);
      const inBlock = pos - block * BLOCK_SIZE;
      const take = Math.min(BLOCK_SIZE - inBlock, data.length - off);
      if (inBlock === 0) {
        this.blockCrcs[block] = take === data.length ? frameCrc : crc32cOf(data.subarray(off, off + take));
      } else {
        this.blockCrcs[block] = crc32cOf(data.subarray(off, off + take), this.blockCrcs[block]);
      }
      pos += take;
      off += take;
    }
    // Folded from the frame's verified CRC32C: no second pass over the bytes.
    this.chunkCrc = crc32cCombine(this.chunkCrc, frameCrc, data.length);
  }

  /** Waits for every queued write and makes the bytes durable (fdatasync). */
  async sync(): Promise<void> {
    if (!this.failure) this.flushBatch();
    await Promise.all(this.pending.splice(0));
    await this.earlySync;
    if (this.failure) throw this.failure;
    await this.fh!.datasync();
  }

  /** Publishes the written bytes (see `syncAndCommit`); the data must already be synced. */
  commit(): Promise<ChunkRecord> {
    return this.publish(false);
  }

  /**
   * Makes the bytes durable and publishes them with the fewest fsync latencies on the path:
   * the data fdatasync and the new meta's write + fdatasync (in tmp/) run in parallel; then the
   * data file (a new chunk) and the meta are renamed into chunks/ and one fsync of chunks/ makes
   * both renames durable before the caller acknowledges. A crash before that fsync leaves at worst
   * an orphan data file (deleted at startup) or a meta whose data file is missing (reported
   * corrupt, never served) — never a replica that looks complete and is not; and nothing was
   * acknowledged yet.
   */
  syncAndCommit(): Promise<ChunkRecord> {
    return this.publish(true);
  }

  private async publish(syncData: boolean): Promise<ChunkRecord> {
    if (this.failure) throw this.failure;
    if (this.done) throw new DfsError(ErrorCode.INTERNAL, `chunk ${this.handle}: writer already finished`);
    const store = this.store;
    try {
      const meta: ChunkMeta = {
        handle: this.handle,
        version: Math.max(this.version, this.base?.version ?? 0),
        generation: this.generation,
        length: this.position,
        crc32c: this.chunkCrc >>> 0,
        blockCrcs: this.blockCrcs,
      };
      const prepared = store.prepareMeta(meta).then((tmp) => (this.metaTmp = tmp));
      prepared.catch(() => undefined);
      await Promise.all([syncData ? this.sync() : undefined, prepared]);
      await this.fh!.close();
      this.fh = undefined;
      const dataPath = store.dataPath(this.handle, this.generation);
      if (!this.base) {
        await renameQuiet(this.path, dataPath).then((moved) => {
          if (!moved) throw new Error(`temp file ${this.path} vanished`);
        });
        this.renamedTo = dataPath;
      }
      if (this.failure) throw this.failure;
      await store.publishMeta(this.metaTmp!, this.handle);
      this.metaTmp = undefined;
      await store.syncChunksDir();
      const record: ChunkRecord = { ...meta, blockCrcs: [...this.blockCrcs], dataPath };
      this.renamedTo = undefined;
      this.finish();
      store.install(record);
      return record;
    } catch (err) {
      await this.abort();
      throw toDfsError(err);
    }
  }

  /** Abandons the write: removes a new chunk's temp file, trims an append back to the committed length. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.finish();
    this.batch = [];
    this.batchBytes = 0;
    await Promise.all(this.pending.splice(0));
    await this.earlySync;
    try {
      if (this.fh) {
        if (this.base) await this.fh.truncate(this.base.length).catch(() => undefined);
        await this.fh.close();
        this.fh = undefined;
      }
    } catch {
      // closing failed: the file is ours to remove anyway
    }
    if (!this.base) await unlinkQuiet(this.path).catch(() => undefined);
    if (this.renamedTo) await unlinkQuiet(this.renamedTo).catch(() => undefined);
    if (this.metaTmp) await unlinkQuiet(this.metaTmp).catch(() => undefined);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.store.inflightBytes -= this.written;
    this.written = 0;
    this.store.release(this);
  }
}
