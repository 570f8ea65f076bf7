import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Metadata } from '@grpc/grpc-js';
import { ErrorCode, FileType, MasterServiceClient, channelOptions, toDfsError, type DfsError, type StatResponse } from '@dfs/proto';
import { channelCredentials } from '@dfs/security';
import type { DfsClient } from '@dfs/client';
import { TestCluster } from '../lib/cluster.js';
import { waitFor } from '../lib/wait.js';

/*
 * The replicated master under leader failures, with real processes on loopback:
 * a crashed leader (SIGKILL) under a stream of namespace and data operations, and a
 * paused leader (SIGSTOP) that wakes up deposed.
 */

const CHUNK = 64 * 1024;

function payload(worker: number, i: number): Buffer {
  return Buffer.alloc(1000 + i * 37, `${worker}:${i};`);
}

type Raw<Res> = { ok: Res } | { err: DfsError };

/** One raw unary call to one master, no retries, no redirects: what that process itself answers. */
function rawCall<Res>(client: MasterServiceClient, method: 'stat' | 'mkdir' | 'clusterStatus', req: object, timeoutMs: number): Promise<Raw<Res>> {
  return new Promise((resolve) => {
    const fn = (client[method] as unknown as (r: object, md: Metadata, o: object, cb: (e: unknown, r: Res) => void) => void).bind(client);
    fn(req, new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => resolve(e ? { err: toDfsError(e) } : { ok: r }));
  });
}

describe('replicated master: leader failover', function () {
  let cluster: TestCluster;
  let admin: DfsClient;

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 3, chunkSize: CHUNK });
    admin = cluster.client({ callTimeoutMs: 2_000, retryWindowMs: 30_000 });
  });

  after(async function () {
    await cluster?.stop();
  });

  async function leaderId(through: DfsClient = admin): Promise<string> {
    return waitFor('a master leader', async () => (await through.clusterStatus()).leaderId || undefined, 30_000);
  }

  it('SIGKILL of the leader under mkdir/put/mv from 4 clients: a new leader serves within seconds, every acknowledged op is there exactly once', async function () {
    this.timeout(150_000);
    const WORKERS = 4;
    const OPS = 24;
    const acked: string[][] = Array.from({ length: WORKERS }, () => []);
    let ackedTotal = 0;
    const errors: string[] = [];
    const worker = async (w: number): Promise<void> => {
      const client = cluster.client({ callTimeoutMs: 2_000, retryWindowMs: 60_000 });
      await client.mkdir(`/w${w}`, { parents: true });
      for (let i = 0; i < OPS; i++) {
        try {
          await client.mkdir(`/w${w}/d${i}`); // no -p: a double apply would be ALREADY_EXISTS
          await client.put(Readable.from([payload(w, i)]), `/w${w}/f${i}`);
          await client.mv(`/w${w}/d${i}`, `/w${w}/m${i}`); // a double apply would be NOT_FOUND
          acked[w]!.push(`${i}`);
          ackedTotal++;
        } catch (err) {
          errors.push(`worker ${w} op ${i}: ${(err as Error).message}`);
          return;
        }
      }
    };
    const running = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));

    await waitFor('some operations before the crash', () => ackedTotal >= 12 || errors.length > 0, 60_000, 20);
    const old = await leaderId();
    const killedAt = Date.now();
    await cluster.kill(old);
    try {
      const others = cluster.info.masters.filter((m) => m.id !== old).map((m) => m.address);
      const survivor = cluster.client({ masters: others, callTimeoutMs: 1_000, retryWindowMs: 1_000 });
      const newLeader = await waitFor(
        'a new leader among the survivors',
        async () => {
          const s = await survivor.clusterStatus();
          return s.leaderId && s.leaderId !== old ? s.leaderId : undefined;
        },
        30_000,
        50,
      );
      const electedMs = Date.now() - killedAt;
      // Serving: a linearizable write and read through the new leader.
      await survivor.mkdir('/after-failover');
      const servingMs = Date.now() - killedAt;
      console.log(`      old leader ${old} killed; ${newLeader} elected after ${electedMs} ms, serving after ${servingMs} ms`);
      assert.ok(servingMs < 15_000, `the new leader served only after ${servingMs} ms`);

      await running;
      assert.deepEqual(errors, [], 'every client finished without user action');
      for (let w = 0; w < WORKERS; w++) {
        assert.equal(acked[w]!.length, OPS);
        const names: string[] = [];
        for await (const e of admin.list(`/w${w}`)) names.push(e.name);
        const expected = Array.from({ length: OPS }, (_, i) => [`f${i}`, `m${i}`]).flat().sort();
        assert.deepEqual(names.sort(), expected, `worker ${w}: exactly its files and moved directories`);
        for (let i = 0; i < OPS; i++) {
          const back = await admin.readFile(`/w${w}/f${i}`);
          assert.ok(back.equals(payload(w, i)), `/w${w}/f${i} content`);
        }
      }
      const trash = await admin.tryStat('/.Trash');
      assert.equal(trash, null, 'nothing was deleted or replaced');
    } finally {
      // Bring the crashed master back so the next test has three; it rejoins as a follower.
      await running.catch(() => undefined);
      cluster.restart(old);
      await waitFor(`${old} back as a follower`, async () => {
        const s = await admin.clusterStatus();
        return s.masters.find((m) => m.id === old)?.role === 'follower';
      }, 30_000);
    }
  });


  it('SIGSTOP of the leader past the election timeout: it steps down on SIGCONT, never serving a stale read or accepting a write while deposed', async function () {
    this.timeout(90_000);
    const old = await leaderId();
    const entry = cluster.node(old);
    const direct = new MasterServiceClient(entry.address, channelCredentials(cluster.security), channelOptions());
    try {
      cluster.signal(old, 'SIGSTOP');
      const others = cluster.info.masters.filter((m) => m.id !== old).map((m) => m.address);
      const survivor = cluster.client({ masters: others, callTimeoutMs: 1_000, retryWindowMs: 30_000 });
      await waitFor('a new leader while the old one is paused', async () => {
        const s = await survivor.clusterStatus();
        return s.leaderId && s.leaderId !== old;
      }, 30_000, 50);
      await survivor.mkdir('/written-while-paused');

      // Calls that reach the paused process now are handled the moment it wakes, before it
      // has heard from anyone: the deposed leader's first chance to answer wrongly.
      const read = rawCall<StatResponse>(direct, 'stat', { path: '/written-while-paused', staleOk: false }, 15_000);
      const write = rawCall<object>(direct, 'mkdir', { path: '/deposed-write', parents: false, mode: 0, opId: '' }, 15_000);
      await new Promise((r) => setImmediate(r));
      cluster.signal(old, 'SIGCONT');
      const [r, w] = await Promise.all([read, write]);

      if ('ok' in r) assert.equal(r.ok.file?.type, FileType.DIRECTORY, 'a read answered by the old leader sees the new write');
      else assert.notEqual(r.err.codeName, 'NOT_FOUND', `stale read: ${r.err.message}`);
      console.log(`      deposed leader answered: read ${'ok' in r ? 'ok (fresh)' : r.err.codeName}, write ${'ok' in w ? 'ok (committed)' : w.err.codeName}`);
      if ('ok' in w) {
        // Accepted only if it really went through the current Raft log: then everyone sees it.
        assert.ok(await survivor.tryStat('/deposed-write'), 'an acknowledged write is durable');
      } else {
        assert.ok([ErrorCode.NOT_LEADER, ErrorCode.UNAVAILABLE, ErrorCode.DEADLINE_EXCEEDED].includes(w.err.code), `write refused: ${w.err.codeName} ${w.err.message}`);
        assert.equal(await survivor.tryStat('/deposed-write'), null, 'a refused write left no trace');
      }

      // Once it knows the new leader, the old one redirects instead of answering.
      await waitFor(`${old} to redirect to the new leader`, async () => {
        const s = await rawCall<object>(direct, 'clusterStatus', {}, 2_000);
        return 'err' in s && s.err.code === ErrorCode.NOT_LEADER && s.err.leader !== entry.address;
      }, 20_000);
      const st = await survivor.clusterStatus();
      assert.notEqual(st.leaderId, old);
      assert.equal(st.masters.find((m) => m.id === old)?.role, 'follower');
    } finally {
      try {
        cluster.signal(old, 'SIGCONT');
      } catch {
        /* gone */
      }
      direct.close();
    }
  });
});

export { FileType };
