import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Metadata } from '@grpc/grpc-js';
import { MasterServiceClient, channelOptions, toDfsError, type GetFileResponse } from '@dfs/proto';
import { channelCredentials, type Security } from '@dfs/security';
import { TestCluster, waitFor } from '@dfs/testkit';
import { badReads, fsck, putRandomFiles } from '../lib/healing.js';

/*
 * Hot-standby masters (HDFS standby and observer NameNodes): chunkservers report to every
 * master, so a follower knows replica locations and serves reads; a follower read never
 * returns data older than the client's own last write; and repairs finish even on a
 * cluster with no spare chunkserver.
 */

const CHUNK = 64 * 1024;

/** GetFile on one master with stale_ok, no retries or redirects: what that follower itself knows. */
function staleGetFile(security: Security, address: string, path: string): Promise<GetFileResponse> {
  const client = new MasterServiceClient(address, channelCredentials(security), channelOptions());
  return new Promise<GetFileResponse>((resolve, reject) => {
    client.getFile({ path, staleOk: true }, new Metadata(), { deadline: Date.now() + 3000 }, (err, res) => (err ? reject(toDfsError(err)) : resolve(res)));
  }).finally(() => client.close());
}

/** Flips 16 bytes in the middle of `handle`'s data file on chunkserver `id`. */
function flipBytes(cluster: TestCluster, id: string, handle: number): void {
  const dir = join(cluster.node(id).dir, 'chunks');
  const name = readdirSync(dir).find((n) => n.startsWith(`${handle}.`) && n.endsWith('.data'));
  assert.ok(name, `no data file for chunk ${handle} on ${id}`);
  const fd = openSync(join(dir, name), 'r+');
  try {
    const buf = Buffer.alloc(16);
    readSync(fd, buf, 0, 16, 1000);
    for (let i = 0; i < buf.length; i++) buf[i] = buf[i]! ^ 0xff;
    writeSync(fd, buf, 0, 16, 1000);
  } finally {
    closeSync(fd);
  }
}

describe('hot standby: every master knows the chunkservers; follower reads; repairs that finish', function () {
  this.timeout(180_000);
  let cluster: TestCluster;

  before(async function () {
    // Three chunkservers: every chunk is on every live node, so no node is free for a repair copy.
    cluster = await TestCluster.start({ masters: 3, chunkservers: 3, chunkSize: CHUNK, deadAfter: '3s', extraArgs: ['--chunkserver-args', '--scrub-interval 0'] });
  });
  after(async function () {
    await cluster?.stop();
  });

  async function leaderId(): Promise<string> {
    return waitFor('a leader', async () => (await cluster.client().clusterStatus()).leaderId || undefined, 30_000);
  }

  it('a stale_ok GetFile on each follower carries the replica locations it learned from the chunkservers', async function () {
    const client = cluster.client();
    await client.put(Readable.from([Buffer.alloc(3 * CHUNK + 5, 1)]), '/hs/located');
    const { chunks } = await client.locate('/hs/located');
    const lead = await leaderId();
    for (const m of cluster.info.masters.filter((x) => x.id !== lead)) {
      const got = await waitFor(`${m.id} to know every replica`, async () => {
        const r = await staleGetFile(cluster.security, m.address, '/hs/located');
        return r.chunks.length === chunks.length && r.chunks.every((c) => c.replicas.length === 3) ? r : undefined;
      }, 15_000, 100);
      for (const [i, c] of got.chunks.entries()) {
        assert.deepEqual(c.replicas.map((r) => r.id).sort(), chunks[i]!.replicas.map((r) => r.id).sort(), `${m.id}, chunk ${i}`);
      }
    }
  });

  it('a follower read never returns data older than the client\'s own last write (stat, list, get)', async function () {
    const client = cluster.client({ followerReads: true });
    for (let i = 1; i <= 30; i++) {
      const body = Buffer.alloc(100 + i, i);
      await client.put(Readable.from([body]), '/hs/ryw/f', { overwrite: true });
      await client.mkdir(`/hs/ryw/d${i}`, { parents: true });
      assert.equal((await client.stat('/hs/ryw/f')).size, body.length, `stat after write ${i}`);
      const names: string[] = [];
      for await (const e of client.list('/hs/ryw')) names.push(e.name);
      assert.ok(names.includes(`d${i}`), `list after mkdir ${i}`);
      assert.deepEqual(await client.readFile('/hs/ryw/f'), body, `get after write ${i}`);
    }
    const { spread, fellBack } = client.followerReads!.stats;
    assert.ok(spread > 30, `reads were spread over the masters (spread ${spread}, sent to the leader ${fellBack})`);
    this.test!.title += ` [${spread} answered in turn, ${fellBack} sent on to the leader]`;
  });

  it('a corrupt replica on a three-chunkserver cluster is repaired in place (delete, copy back) and fsck returns healthy', async function () {
    const client = cluster.client();
    const files = await putRandomFiles(client, '/hs/rot', 6, CHUNK + 1, 2 * CHUNK);
    const { chunks } = await client.locate(files[0]!.path);
    const chunk = chunks[0]!;
    assert.equal(chunk.replicas.length, 3);
    const victim = chunk.replicas[1]!.id;
    flipBytes(cluster, victim, chunk.handle);
    // Reads fall back and stay correct; one of them reaches the bad replica and reports it.
    const reported = (): boolean => cluster.info.masters.some((m) => {
      let text = '';
      try {
        text = readFileSync(m.log, 'utf8');
      } catch {
        return false;
      }
      return text.split('\n').some((l) => l.includes('bad replica reported') && l.includes(`"handle":${chunk.handle}`) && l.includes(`"chunkserver":"${victim}"`));
    });
    await waitFor('the bad replica found by a read', async () => {
      assert.deepEqual(await badReads(client, [files[0]!]), []);
      return reported();
    }, 20_000, 50);
    await waitFor('the chunk repaired on the same node and fsck healthy', async () => {
      const f = await fsck(client);
      const ids = (await client.locate(files[0]!.path)).chunks[0]!.replicas.map((r) => r.id);
      return f.healthy && f.corrupt === 0 && ids.length === 3 && ids.includes(victim);
    }, 60_000, 250);
    assert.deepEqual(await badReads(client, files), []);
  });

  it('a new leader serves reads and writes without waiting for re-registration (no safe-mode wait)', async function () {
    const client = cluster.client({ callTimeoutMs: 1_000, retryWindowMs: 30_000 });
    await client.put(Readable.from([Buffer.alloc(CHUNK + 1, 3)]), '/hs/before-kill');
    const old = await leaderId();
    await cluster.kill(old);
    const others = cluster.info.masters.filter((m) => m.id !== old);
    const next = await waitFor('a new leader', async () => {
      const st = await cluster.client({ masters: others.map((m) => m.address), retryWindowMs: 1000 }).clusterStatus().catch(() => undefined);
      return st?.leaderId && st.leaderId !== old ? st : undefined;
    }, 30_000, 50);
    assert.equal(next.safeMode, false, 'the new leader is not in safe mode');
    assert.equal(next.chunkservers.filter((c) => c.state === 'live').length, 3, 'it knows every chunkserver already');
    await client.put(Readable.from([Buffer.alloc(CHUNK + 2, 4)]), '/hs/after-kill');
    assert.deepEqual(await client.readFile('/hs/before-kill'), Buffer.alloc(CHUNK + 1, 3));
    const log = readFileSync(cluster.node(next.leaderId).log, 'utf8');
    assert.match(log, /became leader: serving at once from the view kept as a follower/);
    cluster.restart(old);
    await waitFor(`${old} back as a follower`, async () => (await cluster.client().clusterStatus()).masters.some((m) => m.id === old && m.role === 'follower'), 30_000, 200);
  });
});
