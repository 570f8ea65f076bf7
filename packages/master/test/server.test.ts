import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ChunkserverControlServiceClient,
  ErrorCode,
  MasterServiceClient,
  channelOptions,
  toDfsError,
} from '@dfs/proto';
import { INSECURE, channelCredentials } from '@dfs/security';
import { waitFor } from '@dfs/testkit';
import { LocalCommandLog } from '../src/command-log.js';
import { RaftCommandLog } from '../src/raft-command-log.js';
import { startMaster, type RunningMaster } from '../src/server.js';
import { tempDir } from './helpers.js';

type Callable = (req: any, cb: (err: any, res: any) => void) => unknown;
function call<T = any>(client: object, method: string, req: object): Promise<T> {
  return new Promise((resolve, reject) =>
    ((client as Record<string, Callable>)[method]!).call(client, req, (err, res) => (err ? reject(toDfsError(err)) : resolve(res))),
  );
}

describe('startMaster (gRPC + HTTP on ephemeral ports)', function () {
  this.timeout(20_000);
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

  async function start(): Promise<{ m: MasterServiceClient; cs: ChunkserverControlServiceClient }> {
    running = await startMaster({
      id: 'm1', dir: t.dir, listen: '127.0.0.1:0', security: INSECURE, http: '127.0.0.1:0', chunkSize: 4096, logLevel: 'silent', tickMs: 60_000,
    });
    const master = running.master;
    // The master's own view (it hears of leadership after the Raft log does), not only the log's.
    await waitFor('the lone master to elect itself', () => master.isLeader(), 10_000, 20);
    const m = new MasterServiceClient(running.address, channelCredentials(INSECURE), channelOptions());
    const cs = new ChunkserverControlServiceClient(running.address, channelCredentials(INSECURE), channelOptions());
    clients.push(m, cs);
    return { m, cs };
  }

  it('writes a file end to end over gRPC, maps errors to dfs codes, and keeps the namespace across a restart', async () => {
    const { m, cs } = await start();
    assert.match(running!.address, /^127\.0\.0\.1:\d+$/);
    for (const [id, rack] of [['cs1', 'r1'], ['cs2', 'r2'], ['cs3', 'r3']] as const) {
      await call(cs, 'register', { id, address: `127.0.0.1:1${id.slice(2)}`, rack, capacityBytes: 1e9, freeBytes: 1e9, usedBytes: 0, replicas: [], registration: 0 });
    }
    const { file } = await call(m, 'createFile', { path: '/dir/hello.txt', overwrite: false, replication: 0, mode: 0, clientId: 'cli-1', chunkSize: 0 });
    const { chunk } = await call(m, 'addChunk', { path: '/dir/hello.txt', inode: file.inode, clientId: 'cli-1', index: 0, excludeChunkservers: [], count: 0 });
    assert.equal(chunk.replicas.length, 3);
    assert.equal(chunk.version, 1);
    await call(m, 'completeFile', {
      path: '/dir/hello.txt', inode: file.inode, clientId: 'cli-1',
      chunks: [{ handle: chunk.handle, length: 11, crc32c: 123, replicas: chunk.replicas.map((r: { id: string }) => r.id), version: 0 }],
    });
    const got = await call(m, 'getFile', { path: '/dir/hello.txt', staleOk: false });
    assert.equal(got.file.size, 11);
    assert.equal(got.chunks[0].replicas.length, 3);
    const list = await call(m, 'list', { path: '/dir', startAfter: '', limit: 0, staleOk: false });
    assert.deepEqual(list.entries.map((e: { name: string }) => e.name), ['hello.txt']);

    const err = await call(m, 'stat', { path: '/nope', staleOk: false }).catch((e: unknown) => e);
    assert.equal((err as { code: ErrorCode }).code, ErrorCode.NOT_FOUND);
    const bad = await call(m, 'mkdir', { path: 'relative', parents: false, mode: 0 }).catch((e: unknown) => e);
    assert.equal((bad as { code: ErrorCode }).code, ErrorCode.INVALID_PATH);
    const hbr = await call(cs, 'heartbeat', { id: 'stranger', capacityBytes: 0, freeBytes: 0, usedBytes: 0, chunkCount: 0, activeWrites: 0, inflightCopies: 0, newReplicas: [], corruptHandles: [], failedCopies: [], deletedHandles: [], registration: 0, seq: 0 });
    assert.equal(hbr.reregister, true);

    const status = await call(m, 'clusterStatus', {});
    assert.equal(status.leaderId, 'm1');
    assert.equal(status.masters[0].role, 'leader');
    assert.equal(status.chunkservers.length, 3);
    assert.equal(status.totalChunks, 1);
    const health = await fetch(`http://${running!.httpAddress}/healthz`);
    assert.equal(health.status, 200);
    const json = (await (await fetch(`http://${running!.httpAddress}/status`)).json()) as { leaderId: string };
    assert.equal(json.leaderId, 'm1');

    for (const c of clients.splice(0)) c.close();
    await running!.stop();
    const again = await start();
    const st = await call(again.m, 'stat', { path: '/dir/hello.txt', staleOk: false });
    assert.equal(st.file.size, 11);
  });

  it('runs on Raft by default: a lone master elects itself and keeps a Raft log in its directory', async () => {
    await start();
    assert.ok(running!.commandLog instanceof RaftCommandLog, 'the default command log is Raft');
    assert.ok(existsSync(join(t.dir, 'raft')), 'the Raft log lives under the master directory');
    assert.equal(running!.commandLog.status().role, 'leader');
  });

  it('uses the command log a test asks for instead', async () => {
    running = await startMaster({
      id: 'm1', dir: t.dir, listen: '127.0.0.1:0', security: INSECURE, logLevel: 'silent', tickMs: 60_000,
      createCommandLog: (ctx) => new LocalCommandLog(ctx.stateMachine, { id: ctx.id, address: () => ctx.address }),
    });
    assert.ok(running.commandLog instanceof LocalCommandLog);
    assert.ok(!existsSync(join(t.dir, 'raft')), 'no Raft log when a test asks for a local one');
  });
});
