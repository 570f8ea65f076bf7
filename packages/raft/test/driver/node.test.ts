import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { DfsError, ErrorCode, serverOptions } from '@dfs/proto';
import { INSECURE, serverCredentials } from '@dfs/security';
import { RaftNode } from '../../src/index.js';
import { SqliteKv } from './sqlite-kv.js';

/*
 * RaftNode end to end: real gRPC servers on loopback, SQLite storage, a SQLite state
 * machine. Timing here is real, so the tick is short and waits are generous.
 */
interface Member {
  id: string;
  address: string;
  dir: string;
  server: grpc.Server;
  sm: SqliteKv;
  node: RaftNode;
}

const enc = (o: unknown): Uint8Array => Buffer.from(JSON.stringify(o));

async function bindServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(serverOptions());
  return await new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', serverCredentials(INSECURE), (err, port) => (err ? reject(err) : resolve({ server, port })));
  });
}

async function boot(root: string, id: string, peers: Array<{ id: string; address: string }>, snapshotEvery = 10_000, port?: number): Promise<Member> {
  const dir = join(root, id);
  const server = new grpc.Server(serverOptions());
  const sm = new SqliteKv(join(root, `${id}-sm.db`));
  const self = peers.find((p) => p.id === id);
  const address = self?.address ?? `127.0.0.1:${port}`;
  // A node not among `peers` joins a running group.
  const node = RaftNode.create({ id, address, peers, join: !self, dir, stateMachine: sm, server, security: INSECURE, tickMs: 20, electionTicks: 10, heartbeatTicks: 2, snapshotEvery });
  await new Promise<void>((resolve, reject) => server.bindAsync(address, serverCredentials(INSECURE), (err) => (err ? reject(err) : resolve())));
  await node.start();
  return { id, address, dir, server, sm, node };
}

async function reservePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const { server, port } = await bindServer();
    ports.push(port);
    await new Promise<void>((r) => server.tryShutdown(() => r()));
  }
  return ports;
}

async function waitUntil(what: string, ms: number, cond: () => boolean): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function halt(m: Member): Promise<void> {
  await m.node.stop();
  m.server.forceShutdown();
  m.sm.close();
}

function leaderOf(ms: Member[]): Member | undefined {
  return ms.find((m) => m.node.isLeader());
}

describe('RaftNode over gRPC and SQLite', function () {
  this.timeout(30_000);
  let root: string;
  let members: Member[] = [];

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'raft-node-'));
    members = [];
  });

  afterEach(async () => {
    for (const m of members) await halt(m).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  });

  async function cluster(n: number, snapshotEvery = 10_000): Promise<Array<{ id: string; address: string }>> {
    const ports = await reservePorts(n);
    const peers = ports.map((p, i) => ({ id: `m${i + 1}`, address: `127.0.0.1:${p}` }));
    for (const p of peers) members.push(await boot(root, p.id, peers, snapshotEvery));
    await waitUntil('a leader is elected', 5_000, () => leaderOf(members) !== undefined);
    return peers;
  }

  it('elects a leader, commits proposals on every member and returns apply results to the proposer', async () => {
    await cluster(3);
    const leader = leaderOf(members) as Member;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => leader.node.propose(enc({ op: 'append', k: 'x', v: String(i % 10) }))));
    assert.equal(results.length, 50);
    const last = results[49] as { index: number; value: string };
    assert.equal(last.value.length, 50);
    await waitUntil('every member applied everything', 5_000, () => members.every((m) => m.sm.get('x')?.length === 50));
    assert.ok(members.every((m) => m.sm.get('x') === leader.sm.get('x')));
  });

  it('a follower rejects proposals and reads with NOT_LEADER carrying the leader address', async () => {
    await cluster(3);
    const leader = leaderOf(members) as Member;
    await waitUntil('followers know the leader', 5_000, () => members.every((m) => m.node.leader()?.id === leader.id));
    const follower = members.find((m) => m !== leader) as Member;
    await assert.rejects(follower.node.propose(enc({ op: 'put', k: 'a', v: '1' })), (e: unknown) => DfsError.is(e, ErrorCode.NOT_LEADER) && e.leader === leader.address);
    await assert.rejects(follower.node.readIndex(), (e: unknown) => DfsError.is(e, ErrorCode.NOT_LEADER));
  });

  it('readIndex resolves on the leader once its state machine has applied every earlier write', async () => {
    await cluster(3);
    const leader = leaderOf(members) as Member;
    await leader.node.propose(enc({ op: 'put', k: 'k', v: 'v1' }));
    await leader.node.readIndex();
    assert.equal(leader.sm.get('k'), 'v1');
  });

  it('survives the leader stopping: a new leader is elected and the old data is still there after a restart from disk', async () => {
    const peers = await cluster(3);
    const leader = leaderOf(members) as Member;
    for (let i = 0; i < 20; i++) await leader.node.propose(enc({ op: 'put', k: `k${i}`, v: `v${i}` }));
    await halt(leader);
    members = members.filter((m) => m !== leader);
    await waitUntil('a new leader', 5_000, () => leaderOf(members) !== undefined);
    const l2 = leaderOf(members) as Member;
    await l2.node.propose(enc({ op: 'put', k: 'after', v: 'x' }));
    // Restart the old leader from its directory: it catches up and applies nothing twice.
    const back = await boot(root, leader.id, peers);
    members.push(back);
    await waitUntil('the restarted node catches up', 5_000, () => back.sm.get('after') === 'x');
    assert.equal(back.sm.get('k19'), 'v19');
  });

  it('snapshots, and a new member joins as a learner, receives the snapshot in pieces and is promoted', async () => {
    const peers = await cluster(3, 20);
    const leader = leaderOf(members) as Member;
    const big = 'z'.repeat(20_000);
    for (let i = 0; i < 60; i++) await leader.node.propose(enc({ op: 'put', k: `k${i}`, v: big }));
    const [port] = await reservePorts(1);
    const joiner = await boot(root, 'm4', peers, 20, port);
    members.push(joiner);
    await leader.node.addMember('m4', joiner.address);
    await waitUntil('m4 applied everything', 10_000, () => joiner.sm.get('k59') === big);
    const st = leader.node.status();
    assert.ok(st.members.some((m) => m.id === 'm4' && m.voter));
    await leader.node.propose(enc({ op: 'put', k: 'four', v: '4' }));
    await waitUntil('m4 applies new entries', 5_000, () => joiner.sm.get('four') === '4');
  });

  it('a new member joins without a snapshot by replaying the whole log, and learns the full configuration', async () => {
    const peers = await cluster(3);
    const leader = leaderOf(members) as Member;
    for (let i = 0; i < 20; i++) await leader.node.propose(enc({ op: 'put', k: `k${i}`, v: `v${i}` }));
    const [port] = await reservePorts(1);
    const joiner = await boot(root, 'm4', peers, 10_000, port);
    members.push(joiner);
    assert.equal(joiner.node.status().role, 'learner');
    await leader.node.addMember('m4', joiner.address);
    await waitUntil('m4 applied everything', 10_000, () => joiner.sm.get('k19') === 'v19');
    await waitUntil('m4 knows it is a voter', 5_000, () => joiner.node.status().members.filter((m) => m.voter).length === 4);
    // Remove a member; the three that remain go on.
    const gone = members.find((m) => m !== leader && m !== joiner) as Member;
    await leader.node.removeMember(gone.id);
    await halt(gone);
    members = members.filter((m) => m !== gone);
    await leader.node.propose(enc({ op: 'put', k: 'after-remove', v: '1' }));
    await waitUntil('m4 applies after the removal', 5_000, () => joiner.sm.get('after-remove') === '1');
  });

  it('transfers leadership to a chosen member and reports the change', async () => {
    await cluster(3);
    const leader = leaderOf(members) as Member;
    const target = members.find((m) => m !== leader) as Member;
    const seen: Array<string | undefined> = [];
    target.node.onLeaderChange((id) => seen.push(id));
    await leader.node.transferLeadership(target.id);
    await waitUntil('target leads', 5_000, () => target.node.isLeader());
    assert.ok(seen.includes(target.id));
    await target.node.propose(enc({ op: 'put', k: 'a', v: 'b' }));
  });
});
