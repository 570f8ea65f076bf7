import assert from 'node:assert/strict';
import { Server, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import {
  DfsError,
  ErrorCode,
  MasterServiceService,
  serverOptions,
  ClusterStatusResponse,
} from '@dfs/proto';
import { INSECURE, serverCredentials } from '@dfs/security';
import { MasterPool } from '../src/index.js';

type Behaviour = 'leader' | 'follower' | 'hang';

/** A fake master whose ClusterStatus leads, redirects, or never answers (like a SIGSTOPped process). */
async function fakeMaster(behaviour: Behaviour, leaderAddress: () => string): Promise<{ server: Server; address: string; calls: () => number }> {
  let calls = 0;
  const server = new Server(serverOptions());
  const impl: UntypedServiceImplementation = {
    clusterStatus: (_call: ServerUnaryCall<unknown, ClusterStatusResponse>, cb: sendUnaryData<Partial<ClusterStatusResponse>>) => {
      calls++;
      if (behaviour === 'hang') return;
      if (behaviour === 'follower') return cb(new DfsError(ErrorCode.NOT_LEADER, 'not the leader', { leader: leaderAddress() }).toServiceError());
      cb(null, ClusterStatusResponse.fromPartial({ leaderId: "leader" }));
    },
  };
  server.addService(MasterServiceService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(INSECURE), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, address: `127.0.0.1:${port}`, calls: () => calls };
}

describe('MasterPool', () => {
  const servers: Server[] = [];
  afterEach(() => {
    servers.splice(0).forEach((s) => s.forceShutdown());
  });

  it('follows a NOT_LEADER hint to the leader and remembers it', async () => {
    let leaderAddr = '';
    const follower = await fakeMaster('follower', () => leaderAddr);
    const leader = await fakeMaster('leader', () => leaderAddr);
    leaderAddr = leader.address;
    servers.push(follower.server, leader.server);
    const pool = new MasterPool({ security: INSECURE, masters: [follower.address, leader.address], callTimeoutMs: 1000, retryWindowMs: 5000 });
    try {
      const res = await pool.call((c) => c.clusterStatus, {});
      assert.equal(res.leaderId, 'leader');
      await pool.call((c) => c.clusterStatus, {});
      assert.equal(follower.calls(), 1, 'the second call went straight to the remembered leader');
      assert.equal(leader.calls(), 2);
    } finally {
      pool.close();
    }
  });

  it('does not hang on a master that accepts connections but never answers', async () => {
    const hung = await fakeMaster('hang', () => '');
    const leader = await fakeMaster('leader', () => '');
    servers.push(hung.server, leader.server);
    const pool = new MasterPool({ security: INSECURE, masters: [hung.address, leader.address], callTimeoutMs: 300, retryWindowMs: 5000 });
    try {
      const started = Date.now();
      const res = await pool.call((c) => c.clusterStatus, {});
      assert.equal(res.leaderId, 'leader');
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
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
