import assert from 'node:assert/strict';
import { ErrorCode } from '@dfs/proto';
import { FakeMaster, Fleet, header, randomBytes, waitFor, writeChunk, expectDfsError } from './helpers.js';
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
    await waitFor(() => m.registers.length === 1 && m.heartbeats.length >= 2, 'register + heartbeats');
    const reg = m.registers[0]!;
    assert.equal(reg.id, 'c1');
    assert.equal(reg.address, c1.address);
    assert.equal(reg.rack, 'r7');
    assert.ok(reg.capacityBytes > 0);
    const hb = m.heartbeats[0]!;
    assert.equal(hb.id, 'c1');
    assert.equal(hb.chunkCount, 0);
  });

  it('follows NOT_LEADER to the leader and skips a master that never answers', async () => {
    const silent = await master();
    silent.silent = true;
    const leader = await master();
    const follower = await master();
    follower.notLeaderOf = leader.address;
    await fleet.start({ id: 'c1', masters: [silent.address, follower.address], masterCallTimeoutMs: 300 });
    await waitFor(() => leader.registers.length === 1 && leader.heartbeats.length > 0, 'registration with the leader via the hint');
    assert.equal(follower.registers.length, 0);
  });

  it('re-registers when the master asks and when the leader changes', async () => {
    const a = await master();
    const b = await master();
    await fleet.start({ id: 'c1', masters: [a.address, b.address] });
    await waitFor(() => a.registers.length === 1, 'first registration');
    let asked = false;
    a.heartbeatReply = () => (asked ? {} : ((asked = true), { reregister: true }));
    await waitFor(() => a.registers.length === 2, 'registration after reregister');
    // leadership moves to b
    a.notLeaderOf = b.address;
    await waitFor(() => b.registers.length === 1 && b.heartbeats.length > 0, 'registration with the new leader');
  });

  it('carries the decommission mark the master sent into its next registration (a new leader re-learns it)', async () => {
    const a = await master();
    const b = await master();
    await fleet.start({ id: 'c1', masters: [a.address, b.address] });
    await waitFor(() => a.registers.length === 1, 'first registration');
    assert.equal(a.registers[0]!.decommissioning, undefined);
    a.heartbeatReply = () => ({ decommission: true });
    await waitFor(() => a.heartbeats.length > 2, 'heartbeats with the mark');
    a.notLeaderOf = b.address;
    await waitFor(() => b.registers.length === 1, 'registration with the new leader');
    assert.equal(b.registers[0]!.decommissioning, true);
    b.heartbeatReply = () => ({ decommission: false, reregister: b.registers.length === 1 });
    await waitFor(() => b.registers.length === 2, 're-registration after the cancel');
    assert.equal(b.registers[1]!.decommissioning, undefined);
  });

  it('reports written replicas until a heartbeat is acknowledged', async () => {
    const m = await master();
    const c1 = await fleet.start({ id: 'c1', masters: [m.address] });
    await waitFor(() => m.registers.length === 1, 'registration');
    m.silent = true; // heartbeats time out: reports stay pending
    await writeChunk(fleet.client(c1.address), header({ handle: 300 }), randomBytes(10));
    m.silent = false;
    await waitFor(() => m.reported('c1').has(300), 'new replica reported after the master came back');
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
    await waitFor(() => m.heartbeats.length >= 3, 'heartbeats go on');
  });

  it('rejects invalid options with INVALID_ARGUMENT', async () => {
    await expectDfsError(startChunkserver({ id: '../x', dir: '/tmp/none', listen: '127.0.0.1:0', security: INSECURE, masters: [] }), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(startChunkserver({ id: 'c1', dir: '/tmp/none', listen: 'nope', security: INSECURE, masters: [] }), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(startChunkserver({ id: 'c1', dir: '/tmp/none', listen: '127.0.0.1:0', security: INSECURE, masters: ['x'] }), ErrorCode.INVALID_ARGUMENT);
  });
});
