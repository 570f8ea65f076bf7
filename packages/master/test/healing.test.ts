import assert from 'node:assert/strict';
import {
  AddChunkRequest,
  CompleteFileRequest,
  CreateFileRequest,
  DeleteRequest,
  HeartbeatRequest,
  RegisterRequest,
  type ReplicaReport,
} from '@dfs/proto';
import { createLogger } from '@dfs/telemetry';
import { Prng } from '@dfs/testkit';
import { ManualClock } from '../src/clock.js';
import { DfsError, ErrorCode } from '@dfs/proto';
import { LocalCommandLog, type CommandLog, type CommandLogStatus } from '../src/command-log.js';
import type { Command, CommandResult } from '../src/state/commands.js';
import { Master, defaultMasterConfig } from '../src/master.js';
import { runFsck } from '../src/cluster/fsck.js';
import type { MetadataStore } from '../src/state/metadata-store.js';
import { T0, openStore, tempDir } from './helpers.js';

/*
 * Self-healing decisions of the leader (cluster/*): corrupt replicas are never deleted before
 * a good replacement exists, decommissioning drains before it reports "safe to stop", failed
 * copies are re-planned at once, the balancer moves replicas copy-then-delete, fsck classifies.
 */

const silent = createLogger('test', 'silent');
const CHUNK = 1024;
const GB = 1024 ** 3;
const IDS = ['cs1', 'cs2', 'cs3', 'cs4'];
const RACKS: Record<string, string> = { cs1: 'r1', cs2: 'r1', cs3: 'r2', cs4: 'r3' };

function reg(id: string, replicas: ReplicaReport[] = [], capacity = 10 * GB, used = 0, rack = RACKS[id] ?? 'r9'): RegisterRequest {
  return RegisterRequest.fromPartial({
    id, address: `127.0.0.1:${7100 + Number(id.replace(/\D/g, ''))}`, rack, capacityBytes: capacity, freeBytes: capacity - used, usedBytes: used, replicas,
  });
}
function hb(id: string, over: Partial<HeartbeatRequest> = {}): HeartbeatRequest {
  return HeartbeatRequest.fromPartial({ id, capacityBytes: 10 * GB, freeBytes: 10 * GB, usedBytes: 0, ...over });
}
const rep = (handle: number): ReplicaReport => ({ handle, version: 1, length: 100, crc32c: 9 });

/** A second master over the same database: a follower until `lead()` (a leader change, as Raft reports it). */
class StandbyLog implements CommandLog {
  private leading = false;
  private readonly listeners: Array<(isLeader: boolean) => void> = [];
  constructor(private readonly inner: LocalCommandLog) {}
  propose(cmd: Command): Promise<CommandResult> {
    if (!this.leading) return Promise.reject(new DfsError(ErrorCode.NOT_LEADER, 'follower'));
    return this.inner.propose(cmd);
  }
  readBarrier(): Promise<void> {
    return this.inner.readBarrier();
  }
  isLeader(): boolean {
    return this.leading;
  }
  holdsLease(): boolean {
    return this.leading;
  }
  leaderAddress(): string {
    return this.leading ? '127.0.0.1:7002' : '127.0.0.1:7001';
  }
  status(): CommandLogStatus {
    return { ...this.inner.status(), role: this.leading ? 'leader' : 'follower' };
  }
  onLeadershipChange(listener: (isLeader: boolean) => void): void {
    this.listeners.push(listener);
  }
  lead(): void {
    this.leading = true;
    for (const l of this.listeners) l(true);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('self-healing decisions (master soft state)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let clock: ManualClock;
  let master: Master;

  beforeEach(async () => {
    t = tempDir();
    store = openStore(t.dir);
    clock = new ManualClock(T0);
    const config = { ...defaultMasterConfig('m1'), chunkSize: CHUNK, deadAfterMs: 30_000, trashIntervalMs: 0, safeModeMs: 10_000 };
    master = new Master(store, new LocalCommandLog(store, { id: 'm1', address: () => '127.0.0.1:7001' }), clock, config, silent, new Prng(7).next);
    for (const id of IDS) await master.register(reg(id));
  });
  afterEach(async () => {
    await store.close();
    t.cleanup();
  });

  async function put(path: string): Promise<{ handle: number; replicas: string[] }> {
    const { file } = await master.createFile(CreateFileRequest.fromPartial({ path, clientId: 'w1' }));
    const { chunk } = await master.addChunk(AddChunkRequest.fromPartial({ path, inode: file!.inode, clientId: 'w1', index: 0 }));
    const replicas = chunk!.replicas.map((r) => r.id);
    await master.completeFile(CompleteFileRequest.fromPartial({ path, inode: file!.inode, clientId: 'w1', chunks: [{ handle: chunk!.handle, length: 100, crc32c: 9, replicas }] }));
    return { handle: chunk!.handle, replicas };
  }

  /**
   * The first of `f`'s replica holders falls silent and is declared dead; returns the node that
   * holds no replica of `f` (where its chunk is copied).
   */
  async function loseFirstReplicaHolder(f: { replicas: string[] }): Promise<string> {
    clock.advance(20_000);
    const victim = f.replicas[0]!;
    for (const id of IDS.filter((x) => x !== victim)) await master.heartbeat(hb(id));
    clock.advance(10_000);
    await master.tick(); // victim dead
    return IDS.find((id) => !f.replicas.includes(id))!;
  }

  /** Heartbeats every node once; returns what each was told. */
  const usage: Record<string, number> = {};
  async function round(over: Record<string, Partial<HeartbeatRequest>> = {}): Promise<Record<string, { deletes: number[]; copies: Array<{ handle: number; source: string }> }>> {
    const out: Record<string, { deletes: number[]; copies: Array<{ handle: number; source: string }> }> = {};
    for (const id of IDS) {
      const node = master.registry.node(id);
      if (!node || node.state === 'dead') continue;
      const used = usage[id] ?? 0;
      const r = await master.heartbeat(hb(id, { usedBytes: used, freeBytes: 10 * GB - used, ...over[id] }));
      out[id] = { deletes: r.deleteHandles, copies: r.replicate.map((c) => ({ handle: c.handle, source: c.source!.id })) };
    }
    return out;
  }

  it('a corrupt replica is not served, kept until a good copy replaces it, then deleted', async () => {
    const f = await put('/c');
    const [bad, ...good] = f.replicas;
    const spare = IDS.find((id) => !f.replicas.includes(id))!;
    let r = await round({ [bad!]: { corruptHandles: [f.handle] } });
    assert.deepEqual(r[bad!]!.deletes, [], 'not deleted before a replacement exists');
    const firstCopies = r[spare]!.copies; // planned at once when the report arrives, or at the next tick
    const fsck1 = master.fsck({ path: '/', maxProblems: 10 });
    assert.equal(fsck1.healthy, false);
    assert.equal(fsck1.corrupt, 1);
    assert.deepEqual(fsck1.problems[0]!.corruptReplicas, [bad]);
    assert.ok(!(await master.getFile({ path: '/c', staleOk: false })).chunks[0]!.replicas.some((x) => x.id === bad));
    await master.tick();
    r = await round();
    const copies = [...firstCopies, ...r[spare]!.copies];
    assert.deepEqual(copies.map((c) => c.handle), [f.handle], 'copied to the only node not holding it');
    assert.ok(good.includes(copies[0]!.source), 'from a good replica');
    // A report of the corrupt replica (e.g. after its node re-registers) does not resurrect it.
    await master.register(reg(bad!, [rep(f.handle)]));
    assert.equal(master.fsck({ path: '/', maxProblems: 10 }).problems[0]!.liveReplicas, 2);
    r = await round({ [spare]: { newReplicas: [rep(f.handle)] } });
    const later = await round();
    assert.deepEqual([...r[bad!]!.deletes, ...later[bad!]!.deletes], [f.handle], 'deleted once the chunk is whole again');
    assert.equal(master.fsck({ path: '/', maxProblems: 10 }).healthy, true);
  });

  it('a corrupt replica is repaired in place when every live node holds the chunk: delete the bad copy, then copy a good one back', async () => {
    const f = await put('/inplace');
    const spare = IDS.find((id) => !f.replicas.includes(id))!;
    clock.advance(20_000);
    for (const id of f.replicas) await master.heartbeat(hb(id));
    clock.advance(10_000);
    await master.tick(); // the spare is dead: three live nodes, all holding the chunk
    assert.equal(master.registry.node(spare)!.state, 'dead');
    const [bad, ...good] = f.replicas;
    const told: Record<string, { deletes: number[]; copies: Array<{ handle: number; source: string }> }> = {};
    const note = (r: typeof told): void => {
      for (const [id, x] of Object.entries(r)) {
        const t = (told[id] ??= { deletes: [], copies: [] });
        // Never both for the same chunk in one answer: the delete must run before the copy lands.
        assert.ok(!x.deletes.some((h) => x.copies.some((c) => c.handle === h)), `${id} told to delete and copy ${f.handle} at once`);
        t.deletes.push(...x.deletes);
        t.copies.push(...x.copies);
      }
    };
    note(await round({ [bad!]: { corruptHandles: [f.handle] } }));
    for (let i = 0; i < 3 && told[bad!]?.copies.length !== 1; i++) {
      await master.tick();
      note(await round());
    }
    assert.deepEqual(told[bad!]!.deletes, [f.handle], 'the corrupt copy is deleted first');
    assert.deepEqual(told[bad!]!.copies.map((c) => c.handle), [f.handle], 'then a good copy is copied back to the same node');
    assert.ok(good.includes(told[bad!]!.copies[0]!.source));
    for (const id of good) assert.deepEqual(told[id]?.deletes ?? [], [], 'no good copy is ever deleted');
    note(await round({ [bad!]: { newReplicas: [rep(f.handle)] } }));
    await master.tick();
    note(await round());
    const fs = master.fsck({ path: '/', maxProblems: 10 });
    assert.deepEqual([fs.healthy, fs.corrupt, fs.underReplicated], [true, 0, 0]);
    assert.deepEqual(told[bad!]!.deletes, [f.handle], 'the repaired copy is not deleted again');
    assert.equal(master.replication.health(f.handle, { version: 1, committed: true, replication: 3 }).live.length, 3);
  });

  it('a corrupt replica that is the last good copy anywhere is never deleted in place', async () => {
    const f = await put('/lastgood');
    const spare = IDS.find((id) => !f.replicas.includes(id))!;
    clock.advance(20_000);
    for (const id of f.replicas) await master.heartbeat(hb(id));
    clock.advance(10_000);
    await master.tick();
    assert.equal(master.registry.node(spare)!.state, 'dead');
    // Every copy found bad before the next plan (e.g. reported together).
    for (const id of f.replicas) master.replication.onCorrupt(id, f.handle);
    const deletes: number[] = [];
    for (let i = 0; i < 3; i++) {
      await master.tick();
      for (const x of Object.values(await round())) deletes.push(...x.deletes);
    }
    assert.deepEqual(deletes, [], 'with no good copy left, nothing is deleted');
    assert.equal(master.fsck({ path: '/', maxProblems: 10 }).missing, 1);
  });

  it('a follower keeps the chunkservers\' reports; made leader, it serves at once (no safe-mode wait, no re-registration)', async () => {
    const f = await put('/warm');
    const config = { ...defaultMasterConfig('m2'), chunkSize: CHUNK, deadAfterMs: 30_000, trashIntervalMs: 0, safeModeMs: 10_000 };
    const standby = new StandbyLog(new LocalCommandLog(store, { id: 'm2', address: () => '127.0.0.1:7002' }));
    const next = new Master(store, standby, clock, config, silent, new Prng(9).next);
    // Chunkservers report to every master: the follower hears the same registrations.
    for (const id of IDS) await next.register(reg(id, f.replicas.includes(id) ? [rep(f.handle)] : []));
    const h = await next.heartbeat(hb('cs1'));
    assert.deepEqual([h.leader, h.deleteHandles, h.replicate], [false, [], []], 'a follower gives no commands');
    assert.equal(next.localClusterStatus().chunkservers.length, 4);
    const stale = await next.getFile({ path: '/warm', staleOk: true });
    assert.deepEqual(stale.chunks[0]!.replicas.map((r) => r.id).sort(), [...f.replicas].sort(), 'stale_ok answers carry replica locations');
    standby.lead();
    assert.equal(next.safeMode.isActive(), false, 'a warm view leaves safe mode at once');
    assert.deepEqual((await next.getFile({ path: '/warm', staleOk: false })).chunks[0]!.replicas.map((r) => r.id).sort(), [...f.replicas].sort());
    const { file } = await next.createFile(CreateFileRequest.fromPartial({ path: '/after', clientId: 'w2' }));
    const { chunk } = await next.addChunk(AddChunkRequest.fromPartial({ path: '/after', inode: file!.inode, clientId: 'w2', index: 0 }));
    assert.equal(chunk!.replicas.length, 3, 'placement works with no re-registration');
    assert.equal((await next.heartbeat(hb('cs1'))).leader, true);
  });

  it('a cold new leader (no reports yet) still waits in safe mode', async () => {
    await put('/cold');
    const config = { ...defaultMasterConfig('m2'), chunkSize: CHUNK, deadAfterMs: 30_000, trashIntervalMs: 0, safeModeMs: 10_000 };
    const standby = new StandbyLog(new LocalCommandLog(store, { id: 'm2', address: () => '127.0.0.1:7002' }));
    const next = new Master(store, standby, clock, config, silent, new Prng(9).next);
    standby.lead();
    assert.equal(next.safeMode.isActive(), true);
  });

  it('a balancer run survives a leader change: the new leader resumes it from the log and records its end', async () => {
    for (let i = 0; i < 8; i++) await put(`/bal${i}`);
    // The node holding most replicas is the fullest, the one holding fewest the emptiest.
    const byCount = [...IDS].sort((a, b) => master.registry.handlesOn(b).size - master.registry.handlesOn(a).size);
    Object.assign(usage, { [byCount[0]!]: 8 * GB, [byCount[1]!]: 4 * GB, [byCount[2]!]: 4 * GB, [byCount[3]!]: 0 });
    await round();
    assert.equal((await master.balance({ threshold: 12.5, stop: false, statusOnly: false })).active, true);
    assert.equal(store.balancerThreshold(), 12.5, 'the run is in the Raft state');
    const config = { ...defaultMasterConfig('m2'), chunkSize: CHUNK, deadAfterMs: 30_000, trashIntervalMs: 0, safeModeMs: 10_000 };
    const standby = new StandbyLog(new LocalCommandLog(store, { id: 'm2', address: () => '127.0.0.1:7002' }));
    const next = new Master(store, standby, clock, config, silent, new Prng(10).next);
    for (const id of IDS) {
      const used = usage[id] ?? 0;
      await next.register(reg(id, [...master.registry.handlesOn(id)].map(rep), 10 * GB, used, 'r1'));
    }
    standby.lead();
    const st = await next.balance({ threshold: 0, stop: false, statusOnly: true });
    assert.deepEqual([st.active, st.threshold], [true, 12.5], 'resumed with the same threshold');
    await next.tick();
    assert.ok(next.replication.movesInflight() > 0, 'the new leader plans moves');
    // Balanced now (usage evened out): the run ends, and the log says so.
    for (const id of IDS) await next.heartbeat(hb(id, { usedBytes: 4 * GB, freeBytes: 6 * GB }));
    next.replication.clearCommands();
    await next.tick();
    assert.equal((await next.balance({ threshold: 0, stop: false, statusOnly: true })).active, false);
    assert.equal(store.balancerThreshold(), 0);
  });

  it('fsck is paged: pages of a few entries, resumed by cursor, add up to the one-shot answer with nothing counted twice', async () => {
    const paths = ['/p/a/1', '/p/a/2', '/p/b/x/1', '/p/b/y', '/p/c', '/p/d/e/f/g', '/p/z'];
    for (const p of paths) await put(p);
    await master.mkdir({ path: '/p/empty/inner', parents: true, mode: 0, opId: '' });
    const [bad] = (await master.getFile({ path: '/p/b/y', staleOk: false })).chunks[0]!.replicas;
    const handle = (await master.getFile({ path: '/p/b/y', staleOk: false })).chunks[0]!.handle;
    master.replication.onCorrupt(bad!.id, handle);
    const whole = master.fsck({ path: '/p', maxProblems: 10 });
    assert.equal(whole.nextStartAfter, '', 'a small tree fits one page');
    for (const size of [1, 2, 3]) {
      let cursor = '';
      const seen: string[] = [];
      let files = 0;
      let dirs = 0;
      let chunks = 0;
      let pages = 0;
      do {
        const page = master.fsck({ path: '/p', maxProblems: 10, startAfter: cursor, maxFiles: size });
        files += page.files;
        dirs += page.directories;
        chunks += page.totalChunks;
        seen.push(...page.problems.map((x) => x.path));
        cursor = page.nextStartAfter ?? '';
        assert.ok(++pages < 50, 'the walk ends');
      } while (cursor);
      assert.deepEqual([files, dirs, chunks], [whole.files, whole.directories, whole.totalChunks], `pages of ${size}`);
      assert.deepEqual(seen, ['/p/b/y'], `the problem chunk is listed once (pages of ${size})`);
    }
    assert.deepEqual([whole.files, whole.directories], [paths.length, 9]);
    // A time budget ends a page too (after at least one file), whatever its file count.
    let t = 0;
    const clock = (): number => (t += 10);
    let cursor = '';
    let files = 0;
    let pages = 0;
    do {
      const page = runFsck(store, master.replication, '/p', { maxProblems: 10, safeMode: false, startAfter: cursor, maxFiles: 1000, budgetMs: 15, now: clock });
      files += page.files;
      cursor = page.nextStartAfter ?? '';
      pages++;
    } while (cursor && pages < 50);
    assert.equal(files, paths.length);
    assert.ok(pages >= 4, `the budget split the walk (${pages} pages)`);
    assert.throws(() => master.fsck({ path: '/p/a', maxProblems: 10, startAfter: '/p/b/y' }), /not below/);
  });

  it('the only copy, reported corrupt, is never deleted: the chunk is missing and corrupt', async () => {
    const f = await put('/only');
    for (const id of f.replicas.slice(1)) await master.heartbeat(hb(id, { corruptHandles: [f.handle] }));
    const r = await round({ [f.replicas[0]!]: { corruptHandles: [f.handle] } });
    await master.tick();
    for (const id of IDS) assert.deepEqual(r[id]!.deletes, []);
    const fs = master.fsck({ path: '/', maxProblems: 10 });
    assert.equal(fs.missing, 1);
    assert.equal(fs.corrupt, 1);
    assert.equal(fs.problems[0]!.status, 'missing');
    assert.equal(fs.problems[0]!.path, '/only');
  });

  it('a stale replica is never served, kept while the chunk is below its target, deleted once it is whole', async () => {
    const f = await put('/stale');
    const spare = IDS.find((id) => !f.replicas.includes(id))!;
    // One holder is gone (dead); the spare reports an old version of the chunk.
    clock.advance(20_000);
    for (const id of IDS.filter((x) => x !== f.replicas[0])) await master.heartbeat(hb(id));
    clock.advance(10_000);
    await master.tick();
    await master.register(reg(spare, [{ ...rep(f.handle), version: 0 }]));
    assert.ok(!(await master.getFile({ path: '/stale', staleOk: false })).chunks[0]!.replicas.some((x) => x.id === spare));
    const r1 = await round();
    assert.deepEqual(r1[spare]!.deletes, [], 'below target: kept');
    // The only node that can take a copy is the stale holder itself: the copy replaces it.
    await master.tick();
    const r2 = await round();
    assert.deepEqual([...r1[spare]!.copies, ...r2[spare]!.copies].map((c) => c.handle), [f.handle]);
    assert.deepEqual(r2[spare]!.deletes, []);
    await round({ [spare]: { newReplicas: [rep(f.handle)] } });
    assert.equal(master.fsck({ path: '/', maxProblems: 10 }).healthy, true);
  });

  it('a stalled master does not declare every chunkserver dead for its own silence', async () => {
    await master.tick();
    clock.advance(40_000); // the master heard nothing for 40 s: its own stall (dead after 30 s)
    await master.tick();
    assert.deepEqual(master.registry.nodes().map((n) => n.state), ['live', 'live', 'live', 'live']);
    // Ticking normally, silent nodes are declared dead after the timeout; cs1 keeps heartbeating.
    for (let i = 0; i < 32; i++) {
      clock.advance(1000);
      await master.heartbeat(hb('cs1'));
      await master.tick();
    }
    assert.deepEqual(master.registry.nodes().map((n) => n.state), ['live', 'dead', 'dead', 'dead']);
  });

  it('a failed copy is re-planned at once (not after the copy timeout)', async () => {
    const f = await put('/fail');
    const spare = await loseFirstReplicaHolder(f);
    let r = await round();
    assert.deepEqual(r[spare]!.copies.map((c) => c.handle), [f.handle]);
    r = await round({ [spare]: { failedCopies: [f.handle] } });
    // Re-planned in the same heartbeat's response or the next one.
    const again = [...r[spare]!.copies, ...(await round())[spare]!.copies];
    assert.deepEqual(again.map((c) => c.handle), [f.handle]);
  });

  it('a copy its target never runs (the answer lost, or the replica already there) is re-planned after two idle heartbeats, not the copy timeout', async () => {
    const f = await put('/lost');
    const spare = await loseFirstReplicaHolder(f);
    assert.deepEqual((await round())[spare]!.copies.map((c) => c.handle), [f.handle]);
    // While the spare says a copy runs, nothing is re-planned (no second copy of the same chunk).
    for (let beat = 0; beat < 4; beat++) {
      clock.advance(500);
      assert.deepEqual((await round({ [spare]: { inflightCopies: 1 } }))[spare]!.copies, []);
    }
    // The answer never reached it: it runs no copy and reports nothing. Re-planned within
    // a few heartbeats (the copy timeout is 2 minutes; a heartbeat is 0.5 s here).
    let beats = 0;
    let again: number[] = [];
    while (again.length === 0 && beats < 6) {
      clock.advance(500);
      beats++;
      again = (await round())[spare]!.copies.map((c) => c.handle);
    }
    assert.deepEqual(again, [f.handle], `re-planned after ${beats} idle heartbeats`);
    assert.equal(beats, 2);
    await round({ [spare]: { newReplicas: [rep(f.handle)] } });
    assert.equal(master.fsck({ path: '/', maxProblems: 10 }).healthy, true);
  });

  it('a copy whose chunk is deleted while it runs ends when the replica is reported: its copy slots are not held', async () => {
    const f = await put('/gone');
    const spare = await loseFirstReplicaHolder(f);
    assert.deepEqual((await round())[spare]!.copies.map((c) => c.handle), [f.handle]);
    await master.delete(DeleteRequest.fromPartial({ path: '/gone', skipTrash: true }));
    assert.equal(master.replication.stats().inflight, 1);
    await master.heartbeat(hb(spare, { newReplicas: [rep(f.handle)], inflightCopies: 1 }));
    assert.equal(master.replication.stats().inflight, 0);
    assert.equal(master.replication.copiesOn(spare), 0);
  });

  it('nemesis seed 1718600991: a heartbeat delivered after the node re-registered does not make its current replica look stale', async () => {
    const f = await put('/ap');
    const c = f.replicas[2]!;
    await master.tick();
    // c re-registers holding the current version; then a heartbeat it sent before (and gave up
    // on at its deadline) is delivered, reporting the version it held then. Taken as news, the
    // replica would look stale: the chunk under-replicated, c (holding it, so with nothing new
    // to report) a copy target, and its current replica deleted as stale once others exist.
    await master.register(reg(c, [rep(f.handle)]));
    await master.heartbeat(hb(c, { newReplicas: [{ ...rep(f.handle), version: 0 }] }));
    const versionOnC = (): number | undefined => master.registry.replicasOf(f.handle).find((x) => x.node.id === c)?.info.version;
    assert.equal(versionOnC(), 1);
    for (let beat = 0; beat < 3; beat++) {
      clock.advance(500);
      await master.tick();
      const r = await round();
      for (const id of IDS) {
        assert.deepEqual(r[id]!.copies, [], `no copy for ${id}`);
        assert.deepEqual(r[id]!.deletes, [], `no delete for ${id}`);
      }
    }
    assert.equal(master.fsck({ path: '/', maxProblems: 10 }).healthy, true);
    // A replica that really went back a version was deleted first (reported as such): taken as news.
    await master.heartbeat(hb(c, { deletedHandles: [f.handle], newReplicas: [{ ...rep(f.handle), version: 0 }] }));
    assert.equal(versionOnC(), 0);
  });

  describe('numbered heartbeats: one sent before a heartbeat already applied, or before a re-registration, is ignored entirely', () => {
    const healthy = (): boolean => master.fsck({ path: '/', maxProblems: 10 }).healthy;

    it('a lower seq: no commands handed out (they wait for the next heartbeat), its idle copy count and deletes not applied', async () => {
      const f = await put('/late');
      const victim = f.replicas[0]!;
      const spare = IDS.find((id) => !f.replicas.includes(id))!;
      await master.register({ ...reg(spare), registration: 11 });
      let seq = 0;
      const beat = (over: Partial<HeartbeatRequest> = {}) => master.heartbeat(hb(spare, { registration: 11, seq: ++seq, ...over }));
      const late = (over: Partial<HeartbeatRequest> = {}) => master.heartbeat(hb(spare, { registration: 11, seq: seq - 1, ...over }));
      clock.advance(20_000);
      for (const id of IDS.filter((x) => x !== victim && x !== spare)) await master.heartbeat(hb(id));
      await beat();
      await beat();
      clock.advance(10_000);
      await master.tick(); // victim dead: the chunk is copied to the spare, the only node without it
      // A late heartbeat gets no commands: the spare no longer waits for that answer.
      const ignored = await late();
      assert.equal(ignored.ignored, true);
      assert.deepEqual(ignored.replicate, []);
      const handedOut = await beat();
      assert.equal(handedOut.ignored, undefined);
      assert.deepEqual(handedOut.replicate.map((c) => c.handle), [f.handle], 'the copy waited for a heartbeat the spare reads');
      // Late heartbeats saying it ran no copy (sent before the hand-out) do not make the copy lost.
      for (let i = 0; i < 3; i++) assert.deepEqual((await late({ inflightCopies: 0 })).replicate, []);
      assert.deepEqual((await beat({ inflightCopies: 1 })).replicate, []);
      assert.equal(master.localClusterStatus().replicationInflight, 1);
      // A gap (a heartbeat that never arrived) is fine; the copy lands.
      seq++;
      await beat({ newReplicas: [rep(f.handle)] });
      assert.equal(healthy(), true);
      // A late heartbeat's deletes and load are not applied, nor does it count as a sign of life.
      const heard = master.registry.node(spare)!.lastHeartbeatMs;
      clock.advance(1000);
      assert.equal((await late({ deletedHandles: [f.handle], usedBytes: 5 * GB })).ignored, true);
      assert.ok(master.registry.replicaOn(spare, f.handle), 'the replica it holds is still recorded');
      assert.equal(master.registry.node(spare)!.usedBytes, 0);
      assert.equal(master.registry.node(spare)!.lastHeartbeatMs, heard);
      assert.equal(healthy(), true);
      // The same seq twice is late too; the next one is applied as usual.
      assert.equal((await master.heartbeat(hb(spare, { registration: 11, seq }))).ignored, true);
      await beat({ usedBytes: GB });
      assert.equal(master.registry.node(spare)!.usedBytes, GB);
    });

    it('an earlier registration: ignored whatever its seq, the node told to register again (an answer it reads only if the master applied an older registration late)', async () => {
      const f = await put('/old-reg');
      const c = f.replicas[2]!;
      await master.register({ ...reg(c, [rep(f.handle)]), registration: 21 });
      for (let seq = 1; seq <= 5; seq++) await master.heartbeat(hb(c, { registration: 21, seq }));
      await master.register({ ...reg(c, [rep(f.handle)]), registration: 22 });
      await master.heartbeat(hb(c, { registration: 22, seq: 1 }));
      const old = await master.heartbeat(hb(c, { registration: 21, seq: 6, deletedHandles: [f.handle] }));
      assert.equal(old.ignored, true);
      assert.equal(old.reregister, true);
      assert.ok(master.registry.replicaOn(c, f.handle), 'its current replica is still recorded');
      assert.equal(healthy(), true);
      // The current registration goes on: seq 2 is applied.
      const next = await master.heartbeat(hb(c, { registration: 22, seq: 2, deletedHandles: [f.handle] }));
      assert.equal(next.ignored, undefined);
      assert.equal(master.registry.replicaOn(c, f.handle), undefined);
    });

    it('a chunkserver that does not number its heartbeats (0) is taken as before', async () => {
      const f = await put('/unnumbered');
      const c = f.replicas[1]!;
      for (let i = 0; i < 3; i++) assert.equal((await master.heartbeat(hb(c, { usedBytes: i * GB }))).ignored, undefined);
      assert.equal(master.registry.node(c)!.usedBytes, 2 * GB);
      // Registered with an id, its heartbeats without one are applied too (no numbers to compare).
      await master.register({ ...reg(c, [rep(f.handle)]), registration: 31 });
      await master.heartbeat(hb(c, { registration: 31, seq: 4 }));
      assert.equal((await master.heartbeat(hb(c, { deletedHandles: [f.handle] }))).ignored, undefined);
      assert.equal(master.registry.replicaOn(c, f.handle), undefined);
    });
  });

  it('decommission: draining replicas still serve but do not count; drained, the node is safe to stop', async () => {
    const a = await put('/d1');
    const b = await put('/d2');
    const node = a.replicas[0]!;
    const res = master.decommission({ chunkserverId: node, cancel: false });
    assert.equal(res.state, 'decommissioning');
    assert.ok(res.chunksToDrain >= 1);
    // New chunks never go to a draining node.
    for (let i = 0; i < 5; i++) assert.ok(!(await put(`/new${i}`)).replicas.includes(node));
    // Its replicas are still served.
    assert.ok((await master.getFile({ path: '/d1', staleOk: false })).chunks[0]!.replicas.some((x) => x.id === node));
    const fs = master.fsck({ path: '/d1', maxProblems: 10 });
    assert.equal(fs.underReplicated, 1);
    assert.equal(fs.problems[0]!.replicas.length, 3, 'the draining replica is still a good one');
    // Copies land; the node becomes decommissioned.
    for (let i = 0; i < 6 && master.registry.node(node)!.state !== 'decommissioned'; i++) {
      await master.tick();
      const r = await round();
      const landed: Record<string, Partial<HeartbeatRequest>> = {};
      for (const [id, cmds] of Object.entries(r)) landed[id] = { newReplicas: cmds.copies.map((c) => rep(c.handle)) };
      await round(landed);
      await master.tick();
    }
    assert.equal(master.registry.node(node)!.state, 'decommissioned');
    assert.equal(master.decommission({ chunkserverId: node, cancel: false }).chunksToDrain, 0);
    assert.match(master.clusterStatus().chunkservers.find((c) => c.id === node)!.note, /safe to stop/);
    for (const h of [a.handle, b.handle]) {
      const live = master.replication.health(h, { version: 1, committed: true, replication: 3 }).live;
      if (a.replicas.includes(node) || b.replicas.includes(node)) assert.ok(live.length >= 3);
    }
    // Cancel: back in service; the extra replicas are trimmed as excess.
    assert.equal(master.decommission({ chunkserverId: node, cancel: true }).state, 'live');
    assert.equal(master.fsck({ path: '/', maxProblems: 10 }).healthy, true);
  });

  it('the decommission mark reaches the node in heartbeats and survives a leader change through its registration', async () => {
    await put('/m');
    master.decommission({ chunkserverId: 'cs2', cancel: false });
    assert.equal((await master.heartbeat(hb('cs2'))).decommission, true);
    assert.equal((await master.heartbeat(hb('cs1'))).decommission, false);
    // A new leader knows nothing; the node's registration carries the mark.
    const config = { ...defaultMasterConfig('m2'), chunkSize: CHUNK, deadAfterMs: 30_000, trashIntervalMs: 0, safeModeMs: 10_000 };
    const next = new Master(store, new LocalCommandLog(store, { id: 'm2', address: () => '127.0.0.1:7002' }), clock, config, silent, new Prng(8).next);
    for (const id of IDS) await next.register(RegisterRequest.fromPartial({ ...reg(id), ...(id === 'cs2' ? { decommissioning: true } : {}) }));
    assert.equal(next.registry.node('cs2')!.state, 'decommissioning');
    assert.equal(next.registry.node('cs1')!.state, 'live');
    // Cancelled: the heartbeat says so, and the node stops claiming it.
    next.decommission({ chunkserverId: 'cs2', cancel: true });
    assert.equal((await next.heartbeat(hb('cs2'))).decommission, false);
  });

  it('balance moves replicas from the fullest node to the emptiest, copy first, then delete the source', async () => {
    // One rack (so any move keeps the spread); cs1 is 80% full, cs2 and cs3 40%, cs4 empty.
    for (const id of IDS) await master.register(reg(id, [], 10 * GB, 0, 'r1'));
    for (let i = 0; i < 8; i++) await put(`/b${i}`);
    Object.assign(usage, { cs1: 8 * GB, cs2: 4 * GB, cs3: 4 * GB, cs4: 0 });
    await round();
    const st = await master.balance({ threshold: 10, stop: false, statusOnly: false });
    assert.equal(st.active, true);
    assert.equal(st.balanced, false);
    await master.tick();
    const r = await round();
    const moves = Object.entries(r).flatMap(([id, x]) => x.copies.map((c) => ({ ...c, target: id })));
    assert.ok(moves.length > 0, 'moves planned');
    for (const m of moves) {
      assert.equal(m.source, 'cs1', 'from the over-utilised node');
      assert.notEqual(m.target, 'cs1');
    }
    // Before the copies land nothing is deleted; after, exactly the sources drop their replica.
    for (const id of IDS) assert.deepEqual(r[id]!.deletes, []);
    const landed: Record<string, Partial<HeartbeatRequest>> = {};
    for (const m of moves) (landed[m.target] ??= { newReplicas: [] }).newReplicas!.push(rep(m.handle));
    const done = await round(landed);
    const later = await round();
    for (const m of moves) {
      assert.ok([...done[m.source]!.deletes, ...later[m.source]!.deletes].includes(m.handle), `source ${m.source} drops ${m.handle}`);
      assert.equal(master.replication.health(m.handle, { version: 1, committed: true, replication: 3 }).live.length, 3);
    }
    assert.ok((await master.balance({ threshold: 10, stop: false, statusOnly: true })).movesDone >= moves.length);
  });
});
