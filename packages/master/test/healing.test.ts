import assert from 'node:assert/strict';
import {
  AddChunkRequest,
  CompleteFileRequest,
  CreateFileRequest,
  HeartbeatRequest,
  RegisterRequest,
  type ReplicaReport,
} from '@dfs/proto';
import { createLogger } from '@dfs/telemetry';
import { Prng } from '@dfs/testkit';
import { ManualClock } from '../src/clock.js';
import { LocalCommandLog } from '../src/command-log.js';
import { Master, defaultMasterConfig } from '../src/master.js';
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
  afterEach(() => {
    store.close();
    t.cleanup();
  });

  async function put(path: string): Promise<{ handle: number; replicas: string[] }> {
    const { file } = await master.createFile(CreateFileRequest.fromPartial({ path, clientId: 'w1' }));
    const { chunk } = await master.addChunk(AddChunkRequest.fromPartial({ path, inode: file!.inode, clientId: 'w1', index: 0 }));
    const replicas = chunk!.replicas.map((r) => r.id);
    await master.completeFile(CompleteFileRequest.fromPartial({ path, inode: file!.inode, clientId: 'w1', chunks: [{ handle: chunk!.handle, length: 100, crc32c: 9, replicas }] }));
    return { handle: chunk!.handle, replicas };
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
    clock.advance(20_000);
    const victim = f.replicas[0]!;
    for (const id of IDS.filter((x) => x !== victim)) await master.heartbeat(hb(id));
    clock.advance(10_000);
    await master.tick(); // victim dead
    const spare = IDS.find((id) => !f.replicas.includes(id))!;
    let r = await round();
    assert.deepEqual(r[spare]!.copies.map((c) => c.handle), [f.handle]);
    r = await round({ [spare]: { failedCopies: [f.handle] } });
    // Re-planned in the same heartbeat's response or the next one.
    const again = [...r[spare]!.copies, ...(await round())[spare]!.copies];
    assert.deepEqual(again.map((c) => c.handle), [f.handle]);
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
    const st = master.balance({ threshold: 10, stop: false, statusOnly: false });
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
    assert.ok(master.balance({ threshold: 10, stop: false, statusOnly: true }).movesDone >= moves.length);
  });
});
