import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster, waitFor } from '@dfs/testkit';
import { badReads, fsck, putRandomFiles, replicaMap, type PutFile } from '../lib/healing.js';

/*
 * Bit rot (HDFS testBadBlockReportOnTransfer, BlockScanner): bytes flipped in a replica file on
 * disk. A read still returns the right data (the replica fails its block checksum, the reader
 * falls back); the bad replica is reported — by the read path, and by the background scrubber
 * for a chunk nobody reads — dropped, and replaced from a good copy.
 */

const CHUNK = 64 * 1024;

/** Flips a few bytes in the middle of `handle`'s data file on chunkserver `id`. */
function flipBytes(cluster: TestCluster, id: string, handle: number): string {
  const dir = join(cluster.node(id).dir, 'chunks');
  const name = readdirSync(dir).find((n) => n.startsWith(`${handle}.`) && n.endsWith('.data'));
  assert.ok(name, `no data file for chunk ${handle} on ${id}`);
  const path = join(dir, name);
  const fd = openSync(path, 'r+');
  try {
    const buf = Buffer.alloc(16);
    readSync(fd, buf, 0, 16, 1000);
    for (let i = 0; i < buf.length; i++) buf[i] = buf[i]! ^ 0xff;
    writeSync(fd, buf, 0, 16, 1000);
  } finally {
    closeSync(fd);
  }
  return path;
}

function badReplicaReports(cluster: TestCluster, handle: number): Array<{ chunkserver: string; reason: string }> {
  const out: Array<{ chunkserver: string; reason: string }> = [];
  for (const m of cluster.info.masters) {
    let text = '';
    try {
      text = readFileSync(m.log, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('bad replica reported')) continue;
      try {
        const j = JSON.parse(line) as { handle: number; chunkserver: string; reason: string };
        if (j.handle === handle) out.push({ chunkserver: j.chunkserver, reason: j.reason });
      } catch {
        /* not JSON */
      }
    }
  }
  return out;
}

async function scrubberFound(cluster: TestCluster, id: string): Promise<number> {
  const res = await fetch(`http://${cluster.node(id).http}/status`);
  const j = (await res.json()) as { scrubber: { corruptFound: number } };
  return j.scrubber.corruptFound;
}

describe('healing: corrupt replicas', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let files: PutFile[];

  before(async function () {
    // The scrubber is off at first, so the read path is what finds the first corruption.
    cluster = await TestCluster.start({
      masters: 3, chunkservers: 4, chunkSize: CHUNK, deadAfter: '2s', extraArgs: ['--chunkserver-args', '--scrub-interval 0'],
    });
    files = await putRandomFiles(cluster.client(), '/rot', 12, CHUNK + 1, 3 * CHUNK);
  });
  after(async function () {
    await cluster?.stop();
  });

  it('a read of a replica with flipped bytes still returns the right data; the replica is reported, dropped and replaced', async function () {
    const client = cluster.client();
    const file = files[0]!;
    const { chunks } = await client.locate(file.path);
    const chunk = chunks[0]!;
    const victim = chunk.replicas[0]!.id;
    const path = flipBytes(cluster, victim, chunk.handle);
    // Read the file from every replica in turn (round-robin): one of them is the bad one.
    for (let i = 0; i < 3; i++) assert.deepEqual(await badReads(client, [file]), [], `read ${i}`);
    await waitFor('the read path to report the bad replica', () => badReplicaReports(cluster, chunk.handle).some((r) => r.chunkserver === victim), 20_000);
    // Dropped: moved aside on the chunkserver, never served again.
    assert.ok(readdirSync(join(cluster.node(victim).dir, 'corrupt')).some((n) => n.startsWith(`${chunk.handle}.`)), `${path} not moved to corrupt/`);
    // Replaced: back to 3 good replicas, and the whole namespace is healthy.
    await waitFor('the chunk re-replicated from a good copy', async () => {
      const f = await fsck(client);
      const ids = (await replicaMap(client, [file])).get(chunk.handle) ?? [];
      return f.healthy && ids.length === 3 && !ids.includes(victim);
    }, 30_000, 200);
    assert.deepEqual(await badReads(client, files), []);
  });

  it('a chunk whose only replica is corrupt is reported missing and corrupt with its file; fsck exits 1; nothing is deleted', async function () {
    const client = cluster.client();
    const { Readable } = await import('node:stream');
    const data = Buffer.alloc(CHUNK / 2, 7);
    await client.put(Readable.from([data]), '/single/one', { replication: 1 });
    const { chunks } = await client.locate('/single/one');
    const holder = chunks[0]!.replicas[0]!.id;
    flipBytes(cluster, holder, chunks[0]!.handle);
    await assert.rejects(client.readFile('/single/one'));
    const r = await waitFor('fsck to see the chunk missing', async () => {
      const res = await cluster.dfs(['fsck', '/single', '--json']);
      return res.code === 1 ? res : undefined;
    }, 20_000, 200);
    const j = JSON.parse(r.stdout) as { healthy: boolean; chunks: { missing: number; corrupt: number }; problems: Array<{ path: string; status: string; corruptReplicas: string[] }> };
    assert.equal(j.healthy, false);
    assert.equal(j.chunks.missing, 1);
    assert.equal(j.chunks.corrupt, 1);
    assert.deepEqual(j.problems.map((p) => [p.path, p.status, p.corruptReplicas]), [['/single/one', 'missing', [holder]]]);
    // The bytes are moved aside on the chunkserver, not deleted by the master.
    assert.ok(readdirSync(join(cluster.node(holder).dir, 'corrupt')).some((n) => n.startsWith(`${chunks[0]!.handle}.`)));
    const text = await cluster.dfs(['fsck', '/single']);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /\/single\/one: chunk 0 .* missing/);
    assert.match(text.stdout, /Status: MISSING CHUNKS/);
    await client.rm('/single', { recursive: true, skipTrash: true });
  });

  it('the scrubber finds flipped bytes in a chunk nobody reads; it is reported, dropped and replaced', async function () {
    const client = cluster.client();
    // Restart c2 with a fast scrubber.
    const entry = cluster.node('c2');
    const at = entry.args.indexOf('--scrub-interval');
    entry.args.splice(at, 2, '--scrub-interval', '300ms', '--scrub-rate', '64MiB');
    await cluster.kill('c2');
    cluster.restart('c2');
    await waitFor('c2 registered again', async () => {
      const c2 = (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c2');
      return c2?.state === 'live' && Date.now() - c2.lastHeartbeatMs < 1000 && (await fetch(`http://${entry.http}/status`)).ok;
    }, 30_000);
    await waitFor('fsck healthy with c2 back', async () => (await fsck(client)).healthy, 30_000, 200);
    const map = await replicaMap(client, files);
    const [handle] = [...map].find(([, ids]) => ids.includes('c2'))!;
    const { before } = await waitFor('c2 answering on HTTP', async () => ({ before: await scrubberFound(cluster, 'c2') }), 30_000);
    flipBytes(cluster, 'c2', handle);
    await waitFor('the scrubber to find the corruption', async () => (await scrubberFound(cluster, 'c2')) > before, 20_000, 100);
    await waitFor('the scrubber report at the master', () => badReplicaReports(cluster, handle).some((r) => r.chunkserver === 'c2'), 20_000);
    await waitFor('the chunk re-replicated from a good copy', async () => {
      const f = await fsck(client);
      const ids = (await replicaMap(client, files)).get(handle) ?? [];
      return f.healthy && ids.length === 3 && !ids.includes('c2');
    }, 30_000, 200);
    assert.deepEqual(await badReads(client, files), []);
  });
});
