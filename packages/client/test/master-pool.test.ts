import assert from 'node:assert/strict';
import { Server, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  DfsError,
  ErrorCode,
  MasterServiceService,
  serverOptions,
  ClusterStatusResponse,
  WhoLeadsResponse,
} from '@dfs/proto';
import { INSECURE, serverCredentials } from '@dfs/security';
import { MasterPool } from '../src/index.js';

type Behaviour = 'leader' | 'follower' | 'hang';

interface FakeMaster {
  server: Server;
  address: string;
  calls: () => number;
  whoLeadsCalls: () => number;
  set(b: Behaviour, term?: number): void;
}

/**
 * A fake master whose ClusterStatus leads, redirects (to `redirect()`, possibly stale), or never
 * answers (like a SIGSTOPped process); WhoLeads answers to match, at `term`.
 */
async function fakeMaster(initial: Behaviour, redirect: () => string, initialTerm = 1): Promise<FakeMaster> {
  let calls = 0;
  let whoLeadsCalls = 0;
  let behaviour = initial;
  let term = initialTerm;
  const server = new Server(serverOptions());
  const impl: UntypedServiceImplementation = {
    clusterStatus: (_call: ServerUnaryCall<unknown, ClusterStatusResponse>, cb: sendUnaryData<Partial<ClusterStatusResponse>>) => {
      calls++;
      if (behaviour === 'hang') return;
      if (behaviour === 'follower') return cb(new DfsError(ErrorCode.NOT_LEADER, 'not the leader', { leader: redirect() }).toServiceError());
      cb(null, ClusterStatusResponse.fromPartial({ leaderId: `leader@${term}` }));
    },
    whoLeads: (_call: unknown, cb: sendUnaryData<WhoLeadsResponse>) => {
      whoLeadsCalls++;
      if (behaviour === 'hang') return;
      cb(null, WhoLeadsResponse.fromPartial({ isLeader: behaviour === 'leader', term, leaderAddress: behaviour === 'follower' ? redirect() : '' }));
    },
  };
  server.addService(MasterServiceService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(INSECURE), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    server,
    address: `127.0.0.1:${port}`,
    calls: () => calls,
    whoLeadsCalls: () => whoLeadsCalls,
    set: (b, t) => {
      behaviour = b;
      if (t !== undefined) term = t;
    },
  };
}

describe('MasterPool', () => {
  const servers: Server[] = [];
  afterEach(() => {
    servers.splice(0).forEach((s) => s.forceShutdown());
  });

  it('finds the leader by asking every master at once, and remembers it', async () => {
    let leaderAddr = '';
    const follower = await fakeMaster('follower', () => leaderAddr);
    const leader = await fakeMaster('leader', () => leaderAddr);
    leaderAddr = leader.address;
    servers.push(follower.server, leader.server);
    const pool = new MasterPool({ security: INSECURE, masters: [follower.address, leader.address], callTimeoutMs: 1000, retryWindowMs: 5000 });
    try {
      const res = await pool.call((c) => c.clusterStatus, {});
      assert.equal(res.leaderId, 'leader@1');
      await pool.call((c) => c.clusterStatus, {});
      assert.equal(follower.calls(), 0, 'no call was sent to the follower');
      assert.equal(leader.calls(), 2);
      assert.equal(pool.leader, leader.address);
    } finally {
      pool.close();
    }
  });

  it('asks a leader hint from an earlier process first and alone, and only its own answer counts', async () => {
    let leaderAddr = '';
    const follower = await fakeMaster('follower', () => leaderAddr);
    const other = await fakeMaster('follower', () => leaderAddr);
    const leader = await fakeMaster('leader', () => leaderAddr);
    leaderAddr = leader.address;
    servers.push(follower.server, other.server, leader.server);
    const masters = [follower.address, other.address, leader.address];
    const whoLeads = (): number => follower.whoLeadsCalls() + other.whoLeadsCalls() + leader.whoLeadsCalls();

    // Right: one call, to the leader; nobody is asked who leads.
    const right = new MasterPool({ security: INSECURE, masters, callTimeoutMs: 1000, retryWindowMs: 5000, leaderHint: leader.address });
    try {
      assert.equal((await right.call((c) => c.clusterStatus, {})).leaderId, 'leader@1');
      assert.equal(whoLeads(), 0);
      assert.equal(follower.calls() + other.calls(), 0);
    } finally {
      right.close();
    }

    // Stale (a follower now): its redirect is followed, still without asking everyone.
    const stale = new MasterPool({ security: INSECURE, masters, callTimeoutMs: 1000, retryWindowMs: 5000, leaderHint: follower.address });
    try {
      assert.equal((await stale.call((c) => c.clusterStatus, {})).leaderId, 'leader@1');
      assert.equal(stale.leader, leader.address);
      assert.equal(follower.calls(), 1);
      assert.equal(other.calls(), 0);
    } finally {
      stale.close();
    }

    // Silent (a cut-off host): rechecked like a remembered leader, well before the call's deadline.
    follower.set('hang');
    const silent = new MasterPool({ security: INSECURE, masters, callTimeoutMs: 10_000, retryWindowMs: 20_000, leaderHint: follower.address });
    try {
      const started = Date.now();
      assert.equal((await silent.call((c) => c.clusterStatus, {})).leaderId, 'leader@1');
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
    } finally {
      silent.close();
    }

    // Not one of the masters: ignored.
    const foreign = new MasterPool({ security: INSECURE, masters: [leader.address], callTimeoutMs: 1000, retryWindowMs: 5000, leaderHint: '127.0.0.1:1' });
    try {
      assert.equal(foreign.leader, undefined);
      assert.equal((await foreign.call((c) => c.clusterStatus, {})).leaderId, 'leader@1');
    } finally {
      foreign.close();
    }
  });

  it('does not hang on a master that accepts connections but never answers', async () => {
    const hung = await fakeMaster('hang', () => '');
    const leader = await fakeMaster('leader', () => '');
    servers.push(hung.server, leader.server);
    // A long per-call deadline: walking the list in order would wait it out on the hung master.
    const pool = new MasterPool({ security: INSECURE, masters: [hung.address, leader.address], callTimeoutMs: 10_000, retryWindowMs: 20_000 });
    try {
      const started = Date.now();
      const res = await pool.call((c) => c.clusterStatus, {});
      assert.equal(res.leaderId, 'leader@1');
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      assert.equal(hung.calls(), 0);
    } finally {
      pool.close();
    }
  });

  it('believes the highest term, never a deposed leader or a stale redirect to it', async () => {
    let deposedAddr = '';
    const deposed = await fakeMaster('leader', () => '', 3);
    // It voted in term 4 but has not heard from the new leader yet: its redirect is stale.
    const staleFollower = await fakeMaster('follower', () => deposedAddr, 4);
    const current = await fakeMaster('leader', () => '', 4);
    deposedAddr = deposed.address;
    servers.push(deposed.server, staleFollower.server, current.server);
    const pool = new MasterPool({ security: INSECURE, masters: [deposed.address, staleFollower.address, current.address], callTimeoutMs: 1000, retryWindowMs: 5000 });
    try {
      const res = await pool.call((c) => c.clusterStatus, {});
      assert.equal(res.leaderId, 'leader@4');
      assert.equal(deposed.calls(), 0);
      assert.equal(staleFollower.calls(), 0);
    } finally {
      pool.close();
    }
  });

  it('leaves a remembered leader that stops answering mid-call for the new one well before the deadline', async () => {
    let newAddr = '';
    const old = await fakeMaster('leader', () => newAddr, 1);
    const next = await fakeMaster('follower', () => old.address, 1);
    const third = await fakeMaster('follower', () => newAddr, 1);
    newAddr = next.address;
    servers.push(old.server, next.server, third.server);
    const pool = new MasterPool({ security: INSECURE, masters: [old.address, next.address, third.address], callTimeoutMs: 10_000, retryWindowMs: 20_000 });
    try {
      assert.equal((await pool.call((c) => c.clusterStatus, {})).leaderId, 'leader@1');
      // The old leader's host is cut off (it answers nothing), and the other master is elected.
      old.set('hang');
      next.set('leader', 2);
      third.set('follower', 2);
      const started = Date.now();
      const res = await pool.call((c) => c.clusterStatus, {});
      assert.equal(res.leaderId, 'leader@2');
      assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
      assert.equal(pool.leader, next.address);
    } finally {
      pool.close();
    }
  });

  it('gives up with UNAVAILABLE naming every address tried', async () => {
    const pool = new MasterPool({ security: INSECURE, masters: ['127.0.0.1:1', '127.0.0.1:2'], callTimeoutMs: 300, retryWindowMs: 500 });
    try {
      await assert.rejects(pool.call((c) => c.clusterStatus, {}), (err: unknown) => {
        assert.ok(err instanceof DfsError);
        assert.equal(err.code, ErrorCode.UNAVAILABLE);
        assert.match(err.message, /127\.0\.0\.1:1/);
        assert.match(err.message, /127\.0\.0\.1:2/);
        return true;
      });
    } finally {
      pool.close();
    }
  });

  it('passes a non-retryable error straight through', async () => {
    const server = new Server(serverOptions());
    server.addService(MasterServiceService, {
      stat: (_c: unknown, cb: sendUnaryData<never>) => cb(new DfsError(ErrorCode.NOT_FOUND, '/x: no such file').toServiceError()),
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', serverCredentials(INSECURE), (e, p) => (e ? reject(e) : resolve(p))));
    servers.push(server);
    const pool = new MasterPool({ security: INSECURE, masters: [`127.0.0.1:${port}`], callTimeoutMs: 1000, retryWindowMs: 5000 });
    try {
      await assert.rejects(pool.call((c) => c.stat, { path: '/x', staleOk: false }), (err: unknown) => DfsError.is(err, ErrorCode.NOT_FOUND));
    } finally {
      pool.close();
    }
  });
});
