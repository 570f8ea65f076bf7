import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChunkserverControlServiceClient, ErrorCode, MasterServiceClient, channelOptions, toDfsError } from '@dfs/proto';
import { INSECURE, channelCredentials } from '@dfs/security';
import { waitFor } from '@dfs/testkit';
import { streamBackup } from '@dfs/client';
import { encodeHeader, verifyBackup, readBackupHeader } from '../../src/backup/backup-file.js';
import { RESTORE_GAP, restoreFromBackup } from '../../src/backup/restore.js';
import { afterBackup } from '../../src/cluster/set-aside.js';
import { startMaster, type RunningMaster } from '../../src/server.js';
import { MetadataBackups } from '../../src/backup/backups.js';
import { createLogger } from '@dfs/telemetry';
import { StoreHarness, T0, openStore, tempDir } from '../helpers.js';

type Callable = (req: any, cb: (err: any, res: any) => void) => unknown;
function call<T = any>(client: object, method: string, req: object): Promise<T> {
  return new Promise((resolve, reject) =>
    ((client as Record<string, Callable>)[method]!).call(client, req, (err, res) => (err ? reject(toDfsError(err)) : resolve(res))),
  );
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return ErrorCode[(err as { code: ErrorCode }).code] ?? String(err);
  }
  return 'no error';
}

const HB = { capacityBytes: 1e9, freeBytes: 1e9, usedBytes: 0, chunkCount: 0, activeWrites: 0, inflightCopies: 0, newReplicas: [], corruptHandles: [], failedCopies: [], deletedHandles: [], registration: 0, seq: 0 };

describe('metadata backup and restore', function () {
  this.timeout(30_000);
  let t: ReturnType<typeof tempDir>;
  let running: RunningMaster | undefined;
  const clients: Array<{ close(): void }> = [];

  beforeEach(() => {
    t = tempDir();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await running?.stop();
    running = undefined;
    t.cleanup();
  });

  async function start(dir: string, peers?: Array<{ id: string; address: string }>): Promise<{ m: MasterServiceClient; cs: ChunkserverControlServiceClient }> {
    running = await startMaster({ id: 'm1', dir, listen: '127.0.0.1:0', security: INSECURE, chunkSize: 4096, logLevel: 'silent', tickMs: 60_000, safeModeMs: 0, ...(peers ? { peers } : {}) });
    const master = running.master;
    // The master's own view (it hears of leadership after the Raft log does), not only the log's.
    await waitFor('the lone master to elect itself', () => master.isLeader(), 10_000, 20);
    const m = new MasterServiceClient(running.address, channelCredentials(INSECURE), channelOptions());
    const cs = new ChunkserverControlServiceClient(running.address, channelCredentials(INSECURE), channelOptions());
    clients.push(m, cs);
    return { m, cs };
  }

  async function stop(): Promise<void> {
    for (const c of clients.splice(0)) c.close();
    await running?.stop();
    running = undefined;
  }

  /** A one-chunk file through the RPCs; returns its chunk's handle. */
  async function put(m: MasterServiceClient, path: string, length: number): Promise<number> {
    const { file } = await call(m, 'createFile', { path, overwrite: false, replication: 1, mode: 0, clientId: 'w', chunkSize: 0, opId: randomUUID() });
    const { chunk } = await call(m, 'addChunk', { path, inode: file.inode, clientId: 'w', index: 0, excludeChunkservers: [], count: 0 });
    await call(m, 'completeFile', { path, inode: file.inode, clientId: 'w', chunks: [{ handle: chunk.handle, length, crc32c: 7, replicas: chunk.replicas.map((r: { id: string }) => r.id), version: 0 }], opId: randomUUID() });
    return chunk.handle as number;
  }

  it('a streamed backup verifies; a flipped byte, a truncation, a wrong magic and a missing file are refused with typed errors', async () => {
    const { m } = await start(join(t.dir, 'a'));
    await running!.master.tick(); // the first leader names the cluster
    await call(m, 'mkdir', { path: '/kept', parents: true, mode: 0, opId: randomUUID() });
    const file = join(t.dir, 'meta.dfsbak');
    const bytes = await streamBackup(m, createWriteStream(file), 10_000);
    assert.ok(bytes > 0);
    const header = await verifyBackup(file);
    assert.match(header.clusterId, /^[0-9a-f]{12}$/);
    assert.equal(header.clusterId, running!.store.clusterId());
    assert.equal(header.appliedIndex, running!.store.appliedIndex());
    assert.equal(header.master, 'm1');
    assert.equal(running!.backups.last()?.header.sha256, header.sha256, 'the master remembers its last backup');
    assert.deepEqual(readdirSync(join(t.dir, 'a', 'backup-scratch')), [], 'the scratch copy is removed');

    const good = readFileSync(file);
    const { offset } = await readBackupHeader(file);
    const flipped = Buffer.from(good);
    flipped[offset + 1000] ^= 0xff;
    writeFileSync(file, flipped);
    assert.equal(await codeOf(verifyBackup(file)), 'CHECKSUM_MISMATCH');
    writeFileSync(file, good.subarray(0, good.length - 10));
    assert.equal(await codeOf(verifyBackup(file)), 'CHECKSUM_MISMATCH');
    writeFileSync(file, Buffer.concat([Buffer.from('NOT-A-BACKUP\n'), good.subarray(20)]));
    assert.equal(await codeOf(verifyBackup(file)), 'INVALID_ARGUMENT');
    assert.equal(await codeOf(verifyBackup(join(t.dir, 'nope'))), 'NOT_FOUND');
    // A well-formed header over bytes that are not a SQLite database: refused, typed.
    const junk = Buffer.from('not a database at all, but the checksum matches');
    writeFileSync(file, Buffer.concat([encodeHeader({ ...header, bytes: junk.length, sha256: createHash('sha256').update(junk).digest('hex') }), junk]));
    assert.equal(await codeOf(verifyBackup(file)), 'INVALID_ARGUMENT');
  });

  it('restore starts a new group at the backup: later changes are gone, new handles skip the gap, later chunks are set aside and never deleted', async () => {
    const { m, cs } = await start(join(t.dir, 'old'));
    await call(cs, 'register', { id: 'cs1', address: '127.0.0.1:11', rack: 'r1', capacityBytes: 1e9, freeBytes: 1e9, usedBytes: 0, replicas: [], registration: 0 });
    await running!.master.tick();
    const before = await put(m, '/before', 100);
    const file = join(t.dir, 'meta.dfsbak');
    await streamBackup(m, createWriteStream(file), 10_000);
    const header = await verifyBackup(file);
    const after = await put(m, '/after', 200);
    await call(m, 'mkdir', { path: '/after-dir', parents: false, mode: 0, opId: randomUUID() });
    await stop();

    const dir = join(t.dir, 'new');
    const got = await restoreFromBackup({ file, dir, peers: [{ id: 'm1', address: '127.0.0.1:1' }] });
    assert.equal(got.appliedIndex, header.appliedIndex);
    assert.equal(await codeOf(restoreFromBackup({ file, dir, peers: [{ id: 'm1', address: '127.0.0.1:1' }] })), 'ALREADY_EXISTS', 'a second restore into the same directory is refused');

    const again = await start(dir);
    assert.ok(running!.store.appliedIndex() > header.appliedIndex - 1);
    assert.equal((await call(again.m, 'stat', { path: '/before', staleOk: false })).file.size, 100);
    assert.equal(await codeOf(call(again.m, 'stat', { path: '/after', staleOk: false })), 'NOT_FOUND');
    assert.equal(await codeOf(call(again.m, 'stat', { path: '/after-dir', staleOk: false })), 'NOT_FOUND');
    assert.equal(running!.store.clusterId(), header.clusterId, 'the restored group keeps the cluster id');

    // cs1 comes back holding both chunks: the backed-up one is adopted, the later one set aside.
    const replica = (handle: number, length: number) => ({ handle, version: 1, length, crc32c: 7 });
    await call(again.cs, 'register', { id: 'cs1', address: '127.0.0.1:11', rack: 'r1', capacityBytes: 1e9, freeBytes: 1e9, usedBytes: 0, replicas: [replica(before, 100), replica(after, 200)], registration: 0 });
    await running!.master.tick();
    await running!.master.tick();
    const hb = await call(again.cs, 'heartbeat', { id: 'cs1', ...HB });
    assert.deepEqual(hb.deleteHandles, [], 'a chunk written after the backup is never deleted');
    const fsck = await call(again.m, 'fsck', { path: '/', maxProblems: 0 });
    assert.equal(fsck.healthy, true);
    assert.deepEqual(fsck.setAside.map((s: { handle: number; reason: string; chunkserverId: string }) => [s.chunkserverId, s.handle, s.reason]), [['cs1', after, 'newer-chunk']]);
    const gf = await call(again.m, 'getFile', { path: '/before', staleOk: false });
    assert.deepEqual(gf.chunks[0].replicas.map((r: { id: string }) => r.id), ['cs1']);

    // New chunks start past the gap, so they can never collide with the set-aside one.
    const next = await put(again.m, '/new', 10);
    assert.ok(next >= before + 1 + RESTORE_GAP - 1 && next > after, `handle ${next} is past the gap`);
    assert.ok(existsSync(join(dir, 'raft', 'raft.db')));
  });

  it('scheduled backups: each one verifies, only the newest `keep` stay, other files in the directory are left alone', async () => {
    const store = openStore(t.dir);
    const h = new StoreHarness(store);
    const backups = new MetadataBackups(store, 'm1', t.dir, createLogger('test', 'silent'));
    const dir = join(t.dir, 'backups');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    try {
      const headers = [];
      for (let i = 0; i < 4; i++) {
        h.ok({ type: 'Mkdir', path: `/d${i}`, parents: false, mode: 0o755, now: T0 });
        headers.push(await backups.takeScheduled({ everyMs: 3_600_000, dir, keep: 2 }));
      }
      const files = readdirSync(dir).sort();
      assert.equal(files.length, 3, files.join(' '));
      assert.ok(files.includes('notes.txt'));
      const kept = files.filter((f) => f.endsWith('.dfsbak'));
      assert.deepEqual(await Promise.all(kept.map(async (f) => (await verifyBackup(join(dir, f))).appliedIndex)), headers.slice(2).map((x) => x.appliedIndex));
      assert.equal(backups.last()?.header.appliedIndex, store.appliedIndex());
    } finally {
      await backups.stop();
      await store.close();
    }
  });

  it('afterBackup: unknown handles inside the gap are newer chunks; known chunks at a version inside the gap were appended after', () => {
    const range = { handleFloor: 10, handleCeiling: 10 + RESTORE_GAP, versionFloor: 5, versionCeiling: 5 + RESTORE_GAP };
    assert.equal(afterBackup(9, 1, undefined, range), undefined, 'garbage from before the backup: the GC takes it');
    assert.equal(afterBackup(10, 1, undefined, range), 'newer-chunk');
    assert.equal(afterBackup(10 + RESTORE_GAP, 1, undefined, range), undefined, 'allocated by the restored group, since deleted: garbage');
    assert.equal(afterBackup(3, 1, { version: 1 }, range), undefined, 'the backed-up version');
    assert.equal(afterBackup(3, 6, { version: 1 }, range), 'newer-version');
    assert.equal(afterBackup(3, 6, { version: 6 }, range), undefined);
    assert.equal(afterBackup(3, 5 + RESTORE_GAP, { version: 1 }, range), undefined, 'an append by the restored group');
  });
});
