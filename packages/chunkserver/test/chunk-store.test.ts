import assert from 'node:assert/strict';
import { readFile, readdir, stat, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE, DfsError, ErrorCode, blockChecksums, crc32cOf } from '@dfs/proto';
import { ChunkStore, type ChunkRecord } from '../src/chunk-store.js';
import { decodeMeta, encodeMeta } from '../src/meta-format.js';
import { NOOP_FAULT_INJECTOR, type ChunkserverFaultInjector } from '../src/fault-injector.js';
import { createLogger } from '@dfs/telemetry';
import { seededBytes } from '@dfs/testkit';
import { removeDir, tempDir } from './helpers.js';

const log = createLogger('test', 'silent');

async function openStore(dir: string, extra: { capacityBytes?: number; faultInjector?: ChunkserverFaultInjector } = {}): Promise<ChunkStore> {
  return ChunkStore.open({ dir, log, faultInjector: extra.faultInjector ?? NOOP_FAULT_INJECTOR, capacityBytes: extra.capacityBytes });
}

/** Writes `data` through the store's writer in frames of `frameSize`. */
async function put(store: ChunkStore, handle: number, data: Buffer, opts: { offset?: number; version?: number; frameSize?: number } = {}): Promise<ChunkRecord> {
  const w = await store.beginWrite({ handle, version: opts.version ?? 1, offset: opts.offset ?? 0, chunkSize: 64 * 1024 * 1024 });
  const fs = opts.frameSize ?? BLOCK_SIZE;
  try {
    for (let off = 0; off < data.length; off += fs) {
      const f = data.subarray(off, Math.min(off + fs, data.length));
      await w.writeFrame(f, crc32cOf(f));
    }
    await w.sync();
  } catch (err) {
    await w.abort();
    throw err;
  }
  return w.commit();
}

async function contents(record: ChunkRecord): Promise<Buffer> {
  return (await readFile(record.dataPath)).subarray(0, record.length);
}

describe('ChunkStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('writes a new chunk with per-block and whole-chunk CRC32C', async () => {
    const store = await openStore(dir);
    const data = seededBytes(3 * BLOCK_SIZE + 1234);
    const rec = await put(store, 7, data);
    assert.equal(rec.length, data.length);
    assert.deepEqual([...rec.blockCrcs], blockChecksums(data));
    assert.equal(rec.crc32c, crc32cOf(data));
    assert.ok((await contents(rec)).equals(data));
    assert.equal(store.usedBytes, data.length);
    assert.deepEqual(await readdir(store.tmpDir), []);
  });

  it('appends at the current length, recomputing the partial last block CRC', async () => {
    const store = await openStore(dir);
    const a = seededBytes(BLOCK_SIZE + 1000, 1);
    const b = seededBytes(2 * BLOCK_SIZE + 77, 2);
    await put(store, 9, a);
    // frames that straddle block boundaries
    const rec = await put(store, 9, b, { offset: a.length, frameSize: 50_000 });
    const all = Buffer.concat([a, b]);
    assert.equal(rec.length, all.length);
    assert.deepEqual([...rec.blockCrcs], blockChecksums(all));
    assert.equal(rec.crc32c, crc32cOf(all));
    assert.ok((await contents(rec)).equals(all));
    // and it survives a restart
    const reopened = await openStore(dir);
    assert.deepEqual(reopened.get(9), rec);
  });

  it('rejects appends at the wrong offset, stale versions and unknown chunks', async () => {
    const store = await openStore(dir);
    await put(store, 3, seededBytes(100), { version: 5 });
    await assert.rejects(store.beginWrite({ handle: 3, version: 5, offset: 99, chunkSize: 1 << 20 }), (e: unknown) => DfsError.is(e, ErrorCode.INVALID_ARGUMENT));
    await assert.rejects(store.beginWrite({ handle: 3, version: 4, offset: 100, chunkSize: 1 << 20 }), (e: unknown) => DfsError.is(e, ErrorCode.STALE_VERSION));
    await assert.rejects(store.beginWrite({ handle: 3, version: 4, offset: 0, chunkSize: 1 << 20 }), (e: unknown) => DfsError.is(e, ErrorCode.STALE_VERSION));
    await assert.rejects(store.beginWrite({ handle: 4, version: 1, offset: 10, chunkSize: 1 << 20 }), (e: unknown) => DfsError.is(e, ErrorCode.UNKNOWN_CHUNK));
    // a newer version appends and bumps the stored version
    const rec = await put(store, 3, seededBytes(10), { offset: 100, version: 6 });
    assert.equal(rec.version, 6);
  });

  it('allows one writer per chunk and rejects frames past chunk_size or with a bad CRC', async () => {
    const store = await openStore(dir);
    const w = await store.beginWrite({ handle: 1, version: 1, offset: 0, chunkSize: 100 });
    await assert.rejects(store.beginWrite({ handle: 1, version: 1, offset: 0, chunkSize: 100 }), (e: unknown) => DfsError.is(e, ErrorCode.UNAVAILABLE));
    const f = seededBytes(60);
    await assert.rejects(w.writeFrame(f, crc32cOf(f) ^ 1), (e: unknown) => DfsError.is(e, ErrorCode.CHECKSUM_MISMATCH));
    await w.writeFrame(f, crc32cOf(f));
    await assert.rejects(w.writeFrame(f, crc32cOf(f)), /past chunk_size/);
    await w.abort();
    assert.equal(store.get(1), undefined);
    assert.deepEqual(await readdir(store.tmpDir), []);
  });

  it('never shows an uncommitted chunk: temp files and orphan data files are discarded at startup', async () => {
    const store = await openStore(dir);
    // "crash" during a write: its temp data and meta files stay in tmp/.
    await writeFile(join(store.tmpDir, '11.5.data'), seededBytes(5000));
    await writeFile(join(store.tmpDir, '11.5.meta.1'), seededBytes(50));
    // An orphan data file: a crash between the data rename and the meta rename.
    await writeFile(join(store.chunksDir, '12.77.data'), seededBytes(10));
    await writeFile(join(store.chunksDir, 'README'), 'not ours');
    const reopened = await openStore(dir);
    assert.equal(reopened.get(11), undefined);
    assert.equal(reopened.get(12), undefined);
    assert.equal(reopened.count, 0);
    assert.deepEqual(await readdir(reopened.tmpDir), []);
    assert.deepEqual((await readdir(reopened.chunksDir)).sort(), ['README']);
  });

  it('drops the uncommitted tail of a crashed append at startup', async () => {
    const store = await openStore(dir);
    const data = seededBytes(1000);
    const rec = await put(store, 5, data);
    await appendFile(rec.dataPath, seededBytes(333)); // an append that never committed
    const reopened = await openStore(dir);
    const again = reopened.get(5)!;
    assert.equal(again.length, 1000);
    assert.equal((await stat(again.dataPath)).size, 1000);
  });

  it('treats unreadable metadata as a corrupt replica, without failing startup', async () => {
    const store = await openStore(dir);
    await put(store, 21, seededBytes(100));
    await put(store, 22, seededBytes(100));
    await put(store, 23, seededBytes(100));
    const meta = await readFile(store.metaPath(21));
    meta[50] ^= 0xff;
    await writeFile(store.metaPath(21), meta);
    await writeFile(store.metaPath(22), 'garbage');
    await writeFile(store.dataPath(23, store.get(23)!.generation), seededBytes(10)); // shorter than recorded
    const reopened = await openStore(dir);
    assert.deepEqual([...reopened.corruptAtLoad].sort(), [21, 22, 23]);
    assert.equal(reopened.count, 0);
  });

  it('quarantines a corrupt replica and deletes replicas', async () => {
    const corrupt: number[] = [];
    const store = await ChunkStore.open({ dir, log, faultInjector: NOOP_FAULT_INJECTOR, hooks: { onCorrupt: (h) => corrupt.push(h) } });
    const rec = await put(store, 31, seededBytes(100));
    await put(store, 32, seededBytes(100));
    assert.equal(await store.quarantine(rec, 'test'), true);
    assert.equal(await store.quarantine(rec, 'again'), false);
    assert.deepEqual(corrupt, [31]);
    assert.equal(store.get(31), undefined);
    assert.equal(await store.delete(32), true);
    assert.equal(await store.delete(32), false);
    assert.equal((await openStore(dir)).count, 0);
  });

  it('enforces the quota with NO_SPACE and leaves no partial chunk', async () => {
    const store = await openStore(dir, { capacityBytes: 100_000 });
    await assert.rejects(put(store, 41, seededBytes(150_000)), (e: unknown) => DfsError.is(e, ErrorCode.NO_SPACE));
    assert.equal(store.get(41), undefined);
    assert.equal(store.inflightBytes, 0);
    assert.deepEqual(await readdir(store.tmpDir), []);
  });

  it('meta encoding round-trips and detects torn files', () => {
    const meta = { handle: 2 ** 40, version: 3, generation: 9, length: BLOCK_SIZE + 1, crc32c: 0xdeadbeef, blockCrcs: [1, 0xffffffff] };
    const buf = encodeMeta(meta);
    assert.deepEqual(decodeMeta(buf), meta);
    assert.throws(() => decodeMeta(buf.subarray(0, buf.length - 1)), /length/);
    const bad = Buffer.from(buf);
    bad[20] ^= 1;
    assert.throws(() => decodeMeta(bad), /checksum/);
  });
});
