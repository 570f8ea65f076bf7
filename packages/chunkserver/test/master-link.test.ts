import assert from 'node:assert/strict';
import { ErrorCode, type HeartbeatRequest } from '@dfs/proto';
import { StopWaiting, seededBytes, waitFor } from '@dfs/testkit';
import { FakeMaster, Fleet, header, writeChunk, expectDfsError } from './helpers.js';
import { startChunkserver } from '../src/index.js';
import { INSECURE } from '@dfs/security';

describe('master control loop', function () {
  this.timeout(30_000);
  const masters: FakeMaster[] = [];
  let fleet: Fleet;
  const master = async (): Promise<FakeMaster> => {
    const m = await new FakeMaster().start();
    masters.push(m);
    return m;
  };

  beforeEach(() => {
    fleet = new Fleet();
  });
  afterEach(async () => {
    await fleet.stopAll();
    for (const m of masters.splice(0)) m.stop();
  });

  it('registers with a full report, then heartbeats with load', async () => {
    const m = await master();
    const c1 = await fleet.start({ id: 'c1', masters: [m.address], rack: 'r7' });
    await waitFor('register + heartbeats', () => m.registers.length === 1 && m.heartbeats.length >= 2);
    const reg = m.registers[0]!;
    assert.equal(reg.id, 'c1');
    assert.equal(reg.address, c1.address);
    assert.equal(reg.rack, 'r7');
    assert.ok(reg.capacityBytes > 0);
    const hb = m.heartbeats[0]!;
    assert.equal(hb.id, 'c1');
    assert.equal(hb.chunkCount, 0);
  });

  it('registers and heartbeats with every master; one that never answers stalls only its own loop', async () => {
    const silent = await master();
    silent.silent = true;
    const leader = await master();
    const follower = await master();
    follower.leader = false;
    const c1 = await fleet.start({ id: 'c1', masters: [silent.address, follower.address, leader.address], masterCallTimeoutMs: 300 });
    await waitFor('registration and heartbeats with both answering masters', () => [leader, follower].every((m) => m.registers.length === 1 && m.heartbeats.length > 1));
    await writeChunk(fleet.client(c1.address), header({ handle: 301 }), seededBytes(10));
    await waitFor('the new replica reported to every master', () => leader.reported('c1').has(301) && follower.reported('c1').has(301));
  });

  it('re-registers only with a master that asks; a leader change needs no new registration', async () => {
    const a = await master();
    const b = await master();
    b.leader = false;
    await fleet.start({ id: 'c1', masters: [a.address, b.address] });
    await waitFor('registration with both', () => a.registers.length === 1 && b.registers.length === 1);
    let asked = false;
    a.heartbeatReply = () => (asked ? {} : ((asked = true), { reregister: true }));
    await waitFor('registration after reregister', () => a.registers.length === 2);
    // Leadership moves to b: heartbeats go on, no full report is sent again.
    a.leader = false;
    b.leader = true;
    const before = b.heartbeats.length;
    await waitFor('heartbeats to the new leader', () => b.heartbeats.length > before + 2);
    assert.equal(b.registers.length, 1);
  });

  it('obeys commands only from a master that says it leads, and tells every master of a deletion', async () => {
    const a = await master();
    const b = await master();
    b.leader = false;
    const c1 = await fleet.start({ id: 'c1', masters: [a.address, b.address] });
    await writeChunk(fleet.client(c1.address), header({ handle: 302 }), seededBytes(10));
    await waitFor('replica reported', () => b.reported('c1').has(302));
    let told = 0;
    b.heartbeatReply = () => (told++ < 3 ? { deleteHandles: [302] } : {});
    await waitFor('the follower sent its (ignored) delete', () => told >= 3);
    const count = (): number | undefined => a.heartbeats[a.heartbeats.length - 1]?.chunkCount;
    const n = a.heartbeats.length;
    await waitFor('heartbeats after the follower\'s command', () => a.heartbeats.length > n + 1);
    assert.equal(count(), 1, 'a follower\'s command is not obeyed');
    a.heartbeatReply = () => ({ deleteHandles: [302] });
    await waitFor('the leader\'s delete is obeyed', () => count() === 0);
    await waitFor('both masters hear of the deletion', () => [a, b].every((m) => m.heartbeats.some((h) => h.deletedHandles.includes(302))));
  });

  it('ignores the commands of a leader of a lower term than one it obeyed (a deposed leader resumed from a pause still says it leads)', async () => {
    const a = await master();
    const b = await master();
    const c1 = await fleet.start({ id: 'c1', masters: [a.address, b.address] });
    await writeChunk(fleet.client(c1.address), header({ handle: 303 }), seededBytes(10));
    await waitFor('replica reported', () => a.reported('c1').has(303) && b.reported('c1').has(303));
    a.heartbeatReply = () => ({ term: 5 });
    await waitFor('a term-5 answer obeyed', () => a.heartbeats.length > 2);
    let told = 0;
    b.heartbeatReply = () => (told++, { term: 4, deleteHandles: [303] });
    const n = a.heartbeats.length;
    await waitFor('the deposed leader told it 3 times, and the leader heard from it since', () => told >= 3 && a.heartbeats.length > n + 1);
    assert.equal(a.heartbeats[a.heartbeats.length - 1]?.chunkCount, 1, 'a term-4 delete is not obeyed after term 5');
    a.heartbeatReply = () => ({ term: 5, deleteHandles: [303] });
    await waitFor('the term-5 leader\'s delete is obeyed', () => a.heartbeats[a.heartbeats.length - 1]?.chunkCount === 0);
  });

  it('repeats the leader\'s decommission mark to every master, and in a registration', async () => {
    const a = await master();
    const b = await master();
    b.leader = false;
    await fleet.start({ id: 'c1', masters: [a.address, b.address] });
    await waitFor('first registrations', () => a.registers.length === 1 && b.registers.length === 1);
    assert.equal(a.registers[0]!.decommissioning, undefined);
    b.heartbeatReply = () => ({ decommission: true }); // a follower's word does not count
    a.heartbeatReply = () => ({ decommission: true });
    await waitFor('the mark repeated to the follower', () => b.heartbeats.some((h) => h.decommissioning === true));
    b.heartbeatReply = () => ({ reregister: b.registers.length === 1 });
    await waitFor('a re-registration', () => b.registers.length === 2);
    assert.equal(b.registers[1]!.decommissioning, true);
    a.heartbeatReply = () => ({ decommission: false });
    const n = b.heartbeats.length;
    await waitFor('the cancel repeated too', () => b.heartbeats.length > n + 1 && b.heartbeats[b.heartbeats.length - 1]!.decommissioning === false);
  });

  it('reports written replicas until a heartbeat is acknowledged', async () => {
    const m = await master();
    const c1 = await fleet.start({ id: 'c1', masters: [m.address] });
    await waitFor('registration', () => m.registers.length === 1);
    m.silent = true; // heartbeats time out: reports stay pending
    await writeChunk(fleet.client(c1.address), header({ handle: 300 }), seededBytes(10));
    m.silent = false;
    await waitFor('new replica reported after the master came back', () => m.reported('c1').has(300));
  });

  it('numbers its heartbeats 1, 2, 3… after each registration, under that registration\'s own new id', async () => {
    const m = await master();
    await fleet.start({ id: 'c1', masters: [m.address] });
    await waitFor('registration and heartbeats', () => m.registers.length === 1 && m.heartbeats.length >= 3);
    const first = m.registers[0]!.registration;
    assert.ok(first > 0, 'a registration id');
    let asked = false;
    m.heartbeatReply = () => (asked ? {} : ((asked = true), { reregister: true }));
    const second = (): number | undefined => m.registers[1]?.registration;
    await waitFor('heartbeats after a re-registration', () => m.heartbeats.filter((h) => h.registration === second()).length >= 3);
    assert.notEqual(second(), first);
    const seqs = (registration: number | undefined): number[] => m.heartbeats.filter((h) => h.registration === registration).map((h) => h.seq);
    const before = seqs(first);
    assert.deepEqual(before, before.map((_, i) => i + 1));
    assert.deepEqual(seqs(second()).slice(0, 3), [1, 2, 3]);
    assert.equal(m.heartbeats.filter((h) => h.registration !== first && h.registration !== second()).length, 0);
  });

  it('reports sent in a heartbeat the master ignored (a late one, to it) go again', async () => {
    const m = await master();
    const c1 = await fleet.start({ id: 'c1', masters: [m.address] });
    await waitFor('registration', () => m.registers.length === 1);
    let ignoring = true;
    const applied: HeartbeatRequest[] = [];
    m.heartbeatReply = (req) => {
      if (ignoring) return { ignored: true };
      applied.push(req);
      return {};
    };
    await writeChunk(fleet.client(c1.address), header({ handle: 304 }), seededBytes(10));
    await waitFor('the replica reported in an ignored heartbeat', () => m.reported('c1').has(304));
    ignoring = false;
    await waitFor('the replica reported again, in a heartbeat the master applied', () => {
      if (applied.some((h) => h.newReplicas.some((r) => r.handle === 304))) return true;
      if (applied.length >= 5) throw new StopWaiting('5 heartbeats applied without the report');
      return false;
    });
    assert.equal(m.registers.length, 1, 'an ignored heartbeat is no reason to register again');
  });

  it('stops promptly even while a call to a paused master is outstanding', async () => {
    const m = await master();
    m.silent = true;
    const c1 = await fleet.start({ id: 'c1', masters: [m.address], masterCallTimeoutMs: 10_000 });
    await new Promise((r) => setImmediate(r));
    const started = Date.now();
    await c1.stop();
    assert.ok(Date.now() - started < 3000, `stop took ${Date.now() - started}ms`);
  });

  it('ignores invalid commands from the master without stopping the loop', async () => {
    const m = await master();
    let n = 0;
    m.heartbeatReply = () => (n++ === 0 ? { deleteHandles: [0, -1, 2 ** 60], replicate: [{ handle: 0, version: 1, source: undefined }] } : {});
    await fleet.start({ id: 'c1', masters: [m.address] });
    await waitFor('heartbeats go on', () => m.heartbeats.length >= 3);
  });

  it('rejects invalid options with INVALID_ARGUMENT', async () => {
    await expectDfsError(startChunkserver({ id: '../x', dir: '/tmp/none', listen: '127.0.0.1:0', security: INSECURE, masters: [] }), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(startChunkserver({ id: 'c1', dir: '/tmp/none', listen: 'nope', security: INSECURE, masters: [] }), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(startChunkserver({ id: 'c1', dir: '/tmp/none', listen: '127.0.0.1:0', security: INSECURE, masters: ['x'] }), ErrorCode.INVALID_ARGUMENT);
  });
});
