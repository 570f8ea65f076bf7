import { SUPERUSER } from '../src/auth/caller.js';
import assert from 'node:assert/strict';
import { DfsError, ErrorCode, type FileType, type HeartbeatRequest, type RegisterRequest, type ReplicaReport } from '@dfs/proto';
import { createLogger } from '@dfs/telemetry';
import { Prng } from '@dfs/testkit';
import { ManualClock } from '../src/clock.js';
import { LocalCommandLog, type CommandLog } from '../src/command-log.js';
import { Master, defaultMasterConfig, type MasterConfig } from '../src/master.js';
import type { MetadataStore } from '../src/state/metadata-store.js';
import { T0, openStore, tempDir } from './helpers.js';

const silent = createLogger('test', 'silent');
const CHUNK = 1024;
const GB = 1024 ** 3;

function registerReq(id: string, rack: string, replicas: ReplicaReport[] = []): RegisterRequest {
  return { id, address: `127.0.0.1:${7100 + Number(id.replace(/\D/g, ''))}`, rack, capacityBytes: 10 * GB, freeBytes: 10 * GB, usedBytes: 0, replicas, registration: 0 };
}
function hb(id: string, over: Partial<HeartbeatRequest> = {}): HeartbeatRequest {
  return {
    id, capacityBytes: 10 * GB, freeBytes: 10 * GB, usedBytes: 0, chunkCount: 0, activeWrites: 0, inflightCopies: 0,
    newReplicas: [], corruptHandles: [], failedCopies: [], deletedHandles: [], registration: 0, seq: 0, ...over,
  };
}
async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<DfsError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DfsError, String(err));
    assert.equal(ErrorCode[err.code], ErrorCode[code], err.message);
    return err;
  }
  assert.fail(`expected ${ErrorCode[code]}`);
}

describe('Master (service logic over a LocalCommandLog, injected clock)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let clock: ManualClock;
  let master: Master;
  let config: MasterConfig;

  function start(over: Partial<MasterConfig> = {}, log?: CommandLog): void {
    config = {
      ...defaultMasterConfig('m1'),
      chunkSize: CHUNK, deadAfterMs: 30_000, leaseMs: 60_000, trashIntervalMs: 1000, safeModeMs: 10_000, ...over,
    };
    master = new Master(store, log ?? new LocalCommandLog(store, { id: 'm1', address: () => '127.0.0.1:7001' }), clock, config, silent, new Prng(3).next);
  }

  beforeEach(() => {
    t = tempDir();
    store = openStore(t.dir);
    clock = new ManualClock(T0);
  });
  afterEach(async () => {
    await store.close();
    t.cleanup();
  });

  async function registerFour(): Promise<void> {
    await master.register(registerReq('cs1', 'r1'));
    await master.register(registerReq('cs2', 'r1'));
    await master.register(registerReq('cs3', 'r2'));
    await master.register(registerReq('cs4', 'r3'));
  }

  /** Writes a one-chunk file through the service; returns the handle and its replica ids. */
  async function put(path: string, length = 100, clientId = 'w1'): Promise<{ handle: number; replicas: string[]; inode: number }> {
    const { file } = await master.createFile({ path, overwrite: false, replication: 0, mode: 0, clientId, chunkSize: 0, opId: '', allocateFirstChunk: false });
    const { chunk } = await master.addChunk({ path, inode: file!.inode, clientId, index: 0, excludeChunkservers: [], previous: undefined, count: 0 });
    const replicas = chunk!.replicas.map((r) => r.id);
    await master.completeFile({
      path, inode: file!.inode, clientId, chunks: [{ handle: chunk!.handle, length, crc32c: 9, replicas, version: 0 }], opId: '',
    });
    return { handle: chunk!.handle, replicas, inode: file!.inode };
  }

  it('AddChunk hands out version 1 and three distinct replicas across racks; GetFile returns them', async () => {
    start();
    await registerFour();
    const { file } = await master.createFile({ path: '/a/f', overwrite: false, replication: 0, mode: 0, clientId: 'w1', chunkSize: 0, opId: '', allocateFirstChunk: false });
    assert.equal(file!.replication, 3);
    assert.equal(file!.chunkSize, CHUNK);
    const { chunk } = await master.addChunk({ path: '/a/f', inode: file!.inode, clientId: 'w1', index: 0, excludeChunkservers: ['cs4'], previous: undefined, count: 0 });
    assert.equal(chunk!.version, 1);
    const ids = chunk!.replicas.map((r) => r.id);
    assert.equal(new Set(ids).size, 3);
    assert.ok(!ids.includes('cs4'));
    assert.deepEqual(new Set(chunk!.replicas.map((r) => r.rack)), new Set(['r1', 'r2']));
    await master.completeFile({ path: '/a/f', inode: file!.inode, clientId: 'w1', chunks: [{ handle: chunk!.handle, length: 100, crc32c: 5, replicas: ids, version: 0 }], opId: '' });
    const got = await master.getFile({ path: '/a/f', staleOk: false });
    assert.equal(got.file!.size, 100);
    assert.deepEqual(got.chunks[0]!.replicas.map((r) => r.id).sort(), [...ids].sort());
    assert.equal(got.chunks[0]!.offset, 0);
  });

  it('NOT_ENOUGH_CHUNKSERVERS with too few live nodes, fewer replicas allowed down to minReplicas', async () => {
    start({ minReplicas: 2 });
    const { file } = await master.createFile({ path: '/f', overwrite: false, replication: 3, mode: 0, clientId: 'w1', chunkSize: 0, opId: '', allocateFirstChunk: false });
    const add = () => master.addChunk({ path: '/f', inode: file!.inode, clientId: 'w1', index: 0, excludeChunkservers: [], previous: undefined, count: 0 });
    await master.register(registerReq('cs1', 'r1'));
    await rejectsWith(add(), ErrorCode.NOT_ENOUGH_CHUNKSERVERS);
    assert.equal(store.chunksOf(file!.inode).length, 0, 'nothing was proposed');
    await master.register(registerReq('cs2', 'r2'));
    assert.equal((await add()).chunk!.replicas.length, 2);
  });

  it('AppendFile of an inline file is refused before proposing (the client rewrites it instead; no Raft round for nothing)', async () => {
    start();
    await master.createFile({ path: '/small', overwrite: false, replication: 0, mode: 0, clientId: 'w1', chunkSize: 0, opId: '', allocateFirstChunk: false, inline: true, inlineData: Buffer.from('abc') });
    const index = store.appliedIndex();
    const err = await rejectsWith(master.appendFile({ path: '/small', clientId: 'w2' }), ErrorCode.INVALID_ARGUMENT);
    assert.match(err.message, /kept inline/);
    assert.equal(store.appliedIndex(), index, 'nothing was proposed');
  });

  it('Stat with withInline carries an inline file\'s bytes, only to a caller who may read it, and only when asked', async () => {
    start();
    await master.createFile({ path: '/small', overwrite: false, replication: 0, mode: 0o640, clientId: 'w1', chunkSize: 0, opId: '', allocateFirstChunk: false, inline: true, inlineData: Buffer.from('abc') });
    await master.mkdir({ path: '/dir', parents: false, mode: 0o755, opId: '' });
    const asked = await master.stat({ path: '/small', staleOk: false, withInline: true }, SUPERUSER);
    assert.equal(asked.file!.size, 3);
    assert.equal(Buffer.from(asked.inlineData!).toString(), 'abc');
    assert.equal((await master.stat({ path: '/small', staleOk: false }, SUPERUSER)).inlineData, undefined, 'not asked: a plain stat');
    assert.equal((await master.stat({ path: '/dir', staleOk: false, withInline: true }, SUPERUSER)).inlineData, undefined);
    const other = { user: 'mallory', groups: ['mallory'], superuser: false };
    const denied = await master.stat({ path: '/small', staleOk: false, withInline: true }, other);
    assert.equal(denied.file!.size, 3, 'stat needs traverse only');
    assert.equal(denied.inlineData, undefined, 'the bytes need r, which mode 0640 denies to others');
  });

  it('Symlink, Link and Mknod through the service: the leader stamps the time, bad device numbers are refused before the log', async () => {
    start();
    await registerFour();
    clock.advance(config.safeModeMs + 1);
    await master.tick();
    const { inode } = await put('/f');
    const sym = await master.symlink({ path: '/l', target: 'f', opId: 'op-1' }, SUPERUSER);
    assert.deepEqual([sym.file!.symlinkTarget, sym.file!.ctimeMs], ['f', clock.now()]);
    const linked = await master.link({ src: '/f', dst: '/g', opId: '' }, SUPERUSER);
    assert.deepEqual([linked.file!.inode, linked.file!.nlink], [inode, 2]);
    const fifo = await master.mknod({ path: '/p', type: 4, mode: 0o600, rdev: 0, opId: '' }, SUPERUSER);
    assert.equal(fifo.file!.type, 4);
    await rejectsWith(master.mknod({ path: '/c', type: 6, mode: 0o600, rdev: 2 ** 40, opId: '' }, SUPERUSER), ErrorCode.INVALID_ARGUMENT);
    await rejectsWith(master.mknod({ path: '/c', type: 99 as FileType, mode: 0o600, rdev: 0, opId: '' }, SUPERUSER), ErrorCode.INVALID_ARGUMENT);
    assert.equal((await master.stat({ path: '/g', staleOk: false }, SUPERUSER)).file!.nlink, 2);
  });

  it('a heartbeat from an unknown chunkserver is told to re-register', async () => {
    start();
    assert.equal((await master.heartbeat(hb('cs9'))).reregister, true);
    await master.register(registerReq('cs9', 'r1'));
    assert.equal((await master.heartbeat(hb('cs9'))).reregister, false);
  });

  it('one writer per file: LEASE_HELD for another client; the lease expires and the leader recovers the file', async () => {
    start();
    await registerFour();
    const { file } = await master.createFile({ path: '/l', overwrite: false, replication: 0, mode: 0, clientId: 'w1', chunkSize: 0, opId: '', allocateFirstChunk: false });
    await rejectsWith(master.createFile({ path: '/l', overwrite: true, replication: 0, mode: 0, clientId: 'w2', chunkSize: 0, opId: '', allocateFirstChunk: false }), ErrorCode.LEASE_HELD);
    const { chunk } = await master.addChunk({ path: '/l', inode: file!.inode, clientId: 'w1', index: 0, excludeChunkservers: [], previous: undefined, count: 0 });
    await master.addChunk({ path: '/l', inode: file!.inode, clientId: 'w1', index: 1, excludeChunkservers: [], previous: undefined, count: 0 });
    // The writer dies after the first chunk reached its replicas (they report it), before the second did.
    for (const r of chunk!.replicas) {
      await master.heartbeat(hb(r.id, { newReplicas: [{ handle: chunk!.handle, version: 1, length: CHUNK, crc32c: 77 }] }));
    }
    const beat = async () => {
      for (const id of ['cs1', 'cs2', 'cs3', 'cs4']) await master.heartbeat(hb(id));
    };
    clock.advance(25_000);
    await beat();
    await master.renewLease({ clientId: 'w1' });
    clock.advance(25_000);
    await beat();
    clock.advance(25_000);
    await beat();
    clock.advance(9_000);
    await beat();
    await master.tick();
    await rejectsWith(master.stat({ path: '/l', staleOk: false }), ErrorCode.NOT_FOUND); // renewed: not yet expired
    clock.advance(1_000);
    await beat();
    await master.tick();
    const got = await master.getFile({ path: '/l', staleOk: false });
    assert.equal(got.file!.size, CHUNK);
    assert.deepEqual(got.chunks.map((c) => [c.handle, c.crc32c]), [[chunk!.handle, 77]]);
    await rejectsWith(
      master.addChunk({ path: '/l', inode: file!.inode, clientId: 'w1', index: 2, excludeChunkservers: [], previous: undefined, count: 0 }),
      ErrorCode.LEASE_EXPIRED,
    );
  });

  it('a writer that keeps renewing without progress loses its file at the hard limit (HDFS), then lease recovery closes it', async () => {
    start({ leaseHardLimitMs: 180_000 });
    await registerFour();
    const { file } = await master.createFile({ path: '/stuck', overwrite: false, replication: 0, mode: 0, clientId: 'w1', chunkSize: 0, opId: '', allocateFirstChunk: false });
    const { chunk } = await master.addChunk({ path: '/stuck', inode: file!.inode, clientId: 'w1', index: 0, excludeChunkservers: [], previous: undefined, count: 0 });
    for (const r of chunk!.replicas) await master.heartbeat(hb(r.id, { newReplicas: [{ handle: chunk!.handle, version: 1, length: CHUNK, crc32c: 5 }] }));
    // Renewing every 20 s: the soft limit (60 s) never runs out, only the hard limit (180 s after the last chunk) does.
    for (let i = 0; i < 8; i++) {
      clock.advance(20_000);
      for (const id of ['cs1', 'cs2', 'cs3', 'cs4']) await master.heartbeat(hb(id));
      await master.renewLease({ clientId: 'w1' });
      await master.tick();
      await rejectsWith(master.stat({ path: '/stuck', staleOk: false }), ErrorCode.NOT_FOUND); // still under construction
    }
    clock.advance(40_000); // 200 s after the last progress
    for (const id of ['cs1', 'cs2', 'cs3', 'cs4']) await master.heartbeat(hb(id));
    await master.renewLease({ clientId: 'w1' });
    await master.tick();
    const st = (await master.stat({ path: '/stuck', staleOk: false })).file!;
    assert.deepEqual([st.underConstruction, st.size], [false, CHUNK], 'recovered (closed at its written chunk) despite the renewals');
    await rejectsWith(
      master.addChunk({ path: '/stuck', inode: file!.inode, clientId: 'w1', index: 1, excludeChunkservers: [], previous: undefined, count: 0 }),
      ErrorCode.LEASE_EXPIRED,
    );
  });

  it('a dead chunkserver is dropped from GetFile and its chunks are re-replicated, throttled, from a live replica', async () => {
    start();
    await registerFour();
    const a = await put('/x');
    const dead = a.replicas[0]!;
    const alive = ['cs1', 'cs2', 'cs3', 'cs4'].filter((id) => id !== dead);
    clock.advance(20_000);
    for (const id of alive) await master.heartbeat(hb(id));
    clock.advance(10_000);
    await master.tick();
    assert.equal(master.registry.node(dead)!.state, 'dead');
    const got = await master.getFile({ path: '/x', staleOk: false });
    assert.ok(!got.chunks[0]!.replicas.some((r) => r.id === dead));
    const spare = alive.find((id) => !a.replicas.includes(id))!;
    const cmd = await master.heartbeat(hb(spare));
    assert.equal(cmd.replicate.length, 1);
    assert.equal(cmd.replicate[0]!.handle, a.handle);
    assert.ok(a.replicas.slice(1).includes(cmd.replicate[0]!.source!.id));
    assert.equal(master.clusterStatus().underReplicated, 1);
    // The copy lands: reported by the target, the chunk is healthy again.
    await master.heartbeat(hb(spare, { newReplicas: [{ handle: a.handle, version: 1, length: 100, crc32c: 9 }] }));
    await master.tick();
    assert.equal(master.clusterStatus().underReplicated, 0);
    assert.equal((await master.getFile({ path: '/x', staleOk: false })).chunks[0]!.replicas.length, 3);
    // The dead node comes back: it must re-register.
    assert.equal((await master.heartbeat(hb(dead))).reregister, true);
  });

  it('throttles copies per node and orders the queue by fewest live replicas', async () => {
    start({ replication: { ...defaultMasterConfig('x').replication, maxCopiesPerNode: 1, maxCopiesCluster: 1 } });
    await registerFour();
    const one = await put('/one');
    const two = await put('/two');
    // /two loses two replicas (corrupt), /one loses one: /two must be copied first.
    for (const id of two.replicas.slice(0, 2)) await master.reportBadReplica({ handle: two.handle, chunkserverId: id, reason: 'crc' });
    await master.reportBadReplica({ handle: one.handle, chunkserverId: one.replicas[0]!, reason: 'crc' });
    await master.tick();
    const cmds = [];
    for (const id of ['cs1', 'cs2', 'cs3', 'cs4']) cmds.push(...(await master.heartbeat(hb(id))).replicate);
    assert.deepEqual(cmds.map((c) => c.handle), [two.handle], 'one copy at a time, the most endangered chunk first');
    assert.equal(master.clusterStatus().corrupt, 2, 'two chunks have corrupt replicas');
  });

  it('deletes garbage, stale and corrupt replicas through heartbeats — but only out of safe mode', async () => {
    start();
    await registerFour();
    const f = await put('/g');
    // Restart as a new leader: safe mode until reports or timeout.
    start();
    assert.equal(master.clusterStatus().safeMode, true);
    await master.register(registerReq('cs1', 'r1', [{ handle: 999, version: 1, length: 5, crc32c: 0 }]));
    assert.deepEqual((await master.heartbeat(hb('cs1'))).deleteHandles, [], 'no deletion in safe mode');
    const holder = f.replicas[0]!;
    await master.register(registerReq(holder, holder === 'cs4' ? 'r3' : holder === 'cs3' ? 'r2' : 'r1', [{ handle: f.handle, version: 1, length: 100, crc32c: 9 }]));
    await master.tick(); // 1 of 1 chunks reported: safe mode ends
    assert.equal(master.clusterStatus().safeMode, false);
    await master.tick(); // GC scan
    assert.deepEqual((await master.heartbeat(hb('cs1'))).deleteHandles, [999]);
    // A stale (older version) replica is never served; while the chunk is below its target it is
    // kept (it may be a replica whose new-version report is in flight); see healing.test.ts.
    const other = ['cs1', 'cs2', 'cs3', 'cs4'].find((id) => id !== holder)!;
    await master.register(registerReq(other, 'r9', [{ handle: f.handle, version: 0, length: 100, crc32c: 9 }]));
    assert.deepEqual((await master.heartbeat(hb(other))).deleteHandles, []);
    assert.deepEqual((await master.getFile({ path: '/g', staleOk: false })).chunks[0]!.replicas.map((r) => r.id), [holder]);
    // A corrupt replica reported by the scrubber is dropped from service — but, being the
    // last copy, not deleted: it stays until a good replacement exists.
    const r = await master.heartbeat(hb(holder, { corruptHandles: [f.handle] }));
    assert.deepEqual(r.deleteHandles, []);
    assert.deepEqual((await master.getFile({ path: '/g', staleOk: false })).chunks[0]!.replicas, []);
    assert.equal(master.clusterStatus().missing, 1);
    assert.equal(master.clusterStatus().corrupt, 1);
  });

  it('a new leader deletes no replica before it has applied every entry of earlier terms (its state may not know a chunk the old leader allocated yet)', async () => {
    const local = new LocalCommandLog(store, { id: 'm1', address: () => '127.0.0.1:7001' });
    let release!: () => void;
    const applied = new Promise<void>((resolve) => (release = resolve));
    // A Raft leader's first read barrier resolves once its term's first entry is committed and everything before it applied.
    const log: CommandLog = Object.assign(Object.create(local) as CommandLog, { readBarrier: () => applied });
    start({}, log);
    await registerFour();
    await master.register(registerReq('cs1', 'r1', [{ handle: 999, version: 1, length: 5, crc32c: 0 }]));
    await master.tick();
    await master.tick();
    assert.deepEqual((await master.heartbeat(hb('cs1'))).deleteHandles, [], 'unknown to a leader still catching up: kept');
    release();
    await applied;
    await master.tick(); // GC scan, now caught up: still unknown, so garbage
    assert.deepEqual((await master.heartbeat(hb('cs1'))).deleteHandles, [999]);
  });

  it('a leader outside its Raft lease (stalled, perhaps deposed) orders no deletion, neither planned nor already queued', async () => {
    const local = new LocalCommandLog(store, { id: 'm1', address: () => '127.0.0.1:7001' });
    let leaseHeld = true;
    const log: CommandLog = Object.assign(Object.create(local) as CommandLog, { holdsLease: () => leaseHeld });
    start({}, log);
    await registerFour();
    await master.register(registerReq('cs1', 'r1', [{ handle: 998, version: 1, length: 5, crc32c: 0 }]));
    await master.tick();
    leaseHeld = false;
    await master.register(registerReq('cs2', 'r1', [{ handle: 999, version: 1, length: 5, crc32c: 0 }]));
    await master.tick();
    assert.deepEqual((await master.heartbeat(hb('cs1'))).deleteHandles, [], 'a deletion queued while leading is held back once the lease lapses');
    assert.deepEqual((await master.heartbeat(hb('cs2'))).deleteHandles, [], 'nothing new is planned without the lease');
    leaseHeld = true;
    await master.tick();
    assert.deepEqual((await master.heartbeat(hb('cs1'))).deleteHandles, [998]);
    assert.deepEqual((await master.heartbeat(hb('cs2'))).deleteHandles, [999]);
  });

  it('safe mode also ends after its timeout without reports', async () => {
    start();
    await registerFour();
    await put('/s');
    start();
    await master.tick();
    assert.equal(master.clusterStatus().safeMode, true);
    clock.advance(10_000);
    await master.tick();
    assert.equal(master.clusterStatus().safeMode, false);
  });

  it('trims an excess replica', async () => {
    start({ defaultReplication: 2 });
    await registerFour();
    const f = await put('/e');
    const extra = ['cs1', 'cs2', 'cs3', 'cs4'].find((id) => !f.replicas.includes(id))!;
    await master.heartbeat(hb(extra, { newReplicas: [{ handle: f.handle, version: 1, length: 100, crc32c: 9 }] }));
    const deletes = [];
    for (const id of ['cs1', 'cs2', 'cs3', 'cs4']) deletes.push(...(await master.heartbeat(hb(id))).deleteHandles);
    assert.deepEqual(deletes, [f.handle]);
    assert.equal((await master.getFile({ path: '/e', staleOk: false })).chunks[0]!.replicas.length, 2);
  });

  it('deletes go to the trash, and the leader empties it after the interval', async () => {
    start();
    await registerFour();
    const f = await put('/t/file');
    await master.delete({ path: '/t', recursive: true, skipTrash: false, opId: '' });
    assert.equal((await master.stat({ path: `/user/${SUPERUSER.user}/.Trash/Current/t/file`, staleOk: false })).file!.size, 100);
    await master.tick(); // checkpoint: Current → /user/root/.Trash/<now>
    assert.equal(store.chunk(f.handle)?.handle, f.handle);
    clock.advance(1000);
    await master.tick(); // the checkpoint is older than the interval: deleted
    assert.equal(store.chunk(f.handle), undefined);
    await master.tick();
    const deletes = [];
    for (const id of f.replicas) deletes.push(...(await master.heartbeat(hb(id))).deleteHandles);
    assert.deepEqual(deletes, [f.handle, f.handle, f.handle], 'every replica of the deleted chunk is collected');
  });

  it('a follower answers writes with NOT_LEADER and the leader address, and serves stale_ok reads', async () => {
    const follower: CommandLog = {
      propose: async () => assert.fail('a follower must not propose'),
      readBarrier: async () => undefined,
      isLeader: () => false,
      holdsLease: () => false,
      leaderAddress: () => '127.0.0.1:7002',
      status: () => ({ id: 'm1', role: 'follower', term: 2, commitIndex: 0, appliedIndex: 0, members: [] }),
      onLeadershipChange: () => undefined,
      close: async () => undefined,
    };
    start({}, follower);
    const err = await rejectsWith(master.mkdir({ path: '/d', parents: true, mode: 0, opId: '' }), ErrorCode.NOT_LEADER);
    assert.equal(err.leader, '127.0.0.1:7002');
    await rejectsWith(master.stat({ path: '/', staleOk: false }), ErrorCode.NOT_LEADER);
    assert.equal((await master.stat({ path: '/', staleOk: true })).file!.path, '/');
    // A follower read waits for the client's index, then redirects when it cannot reach it.
    store.apply(1, new Uint8Array()); // one entry applied here (a Raft no-op)
    assert.equal((await master.stat({ path: '/', staleOk: false, minIndex: store.appliedIndex() })).file!.path, '/');
    const behind = await rejectsWith(master.stat({ path: '/', staleOk: false, minIndex: store.appliedIndex() + 1 }), ErrorCode.NOT_LEADER);
    assert.equal(behind.leader, '127.0.0.1:7002');
  });

  it('a follower takes registrations and heartbeats (its own view) but answers with no commands', async () => {
    const follower: CommandLog = {
      propose: async () => assert.fail('a follower must not propose'),
      readBarrier: async () => undefined,
      isLeader: () => false,
      holdsLease: () => false,
      leaderAddress: () => '127.0.0.1:7002',
      status: () => ({ id: 'm1', role: 'follower', term: 2, commitIndex: 0, appliedIndex: 0, members: [] }),
      onLeadershipChange: () => undefined,
      close: async () => undefined,
    };
    start({}, follower);
    const r = await master.register(registerReq('cs1', 'r1', [{ handle: 99, version: 1, length: 10, crc32c: 0 }]));
    assert.equal(r.leader, false);
    const h = await master.heartbeat(hb('cs1', { decommissioning: true, deletedHandles: [99] }));
    assert.equal(h.leader, false);
    assert.equal(h.reregister, false);
    assert.deepEqual([h.deleteHandles, h.replicate, h.decommission], [[], [], undefined]);
    const st = master.localClusterStatus();
    assert.deepEqual(st.chunkservers.map((c) => [c.id, c.state]), [['cs1', 'decommissioning']], 'the leader\'s drain mark, repeated by the node');
    assert.equal(master.registry.hasReplicas(99), false, 'a deletion reported by the node is forgotten');
    await master.heartbeat(hb('cs1', { decommissioning: false }));
    assert.equal(master.localClusterStatus().chunkservers[0]!.state, 'live', 'and a cancel');
  });
});
