import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { TestCluster } from '../lib/cluster.js';
import { sha256 } from '../lib/files.js';
import { badReads, fsck, putRandomFiles, replicaMap, type PutFile } from '../lib/healing.js';
import { waitFor } from '../lib/wait.js';

/*
 * Decommission under load (HDFS TestDecommission): `dfs admin decommission c4 --wait` while
 * a writer and a reader keep going. c4 takes no new chunks, its chunks are copied away first
 * (no chunk ever has fewer than 3 good replicas), then it is reported safe to stop; stopping
 * it leaves nothing to repair — also after the master leader changes in between.
 */

const CHUNK = 64 * 1024;

describe('healing: decommission', function () {
  this.timeout(180_000);
  let cluster: TestCluster;

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 4, chunkSize: CHUNK, deadAfter: '2s' });
  });
  after(async function () {
    await cluster?.stop();
  });

  it('drains a node under load, then it is safe to stop (also after a leader change), and no file loses a replica on the way', async function () {
    const client = cluster.client();
    const files = await putRandomFiles(client, '/dec', 30, 1, 4 * CHUNK);
    const onC4 = [...(await replicaMap(client, files))].filter(([, ids]) => ids.includes('c4')).length;
    assert.ok(onC4 > 0);

    // Load: a writer and a reader until told to stop.
    let stop = false;
    const written: Array<PutFile & { startedAt: number }> = [];
    const loadErrors: string[] = [];
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const data = randomBytes(CHUNK + 1000 * i);
        const startedAt = Date.now();
        const path = `/load/w${i}`;
        try {
          await client.put(Readable.from([data]), path);
          written.push({ path, size: data.length, sha: sha256(data), startedAt });
        } catch (err) {
          loadErrors.push(`put ${path}: ${(err as Error).message}`);
        }
      }
    })();
    const reader = (async () => {
      while (!stop) {
        const bad = await badReads(client, files.slice(0, 5), 2).catch((err: Error) => [err.message]);
        if (bad.length > 0) loadErrors.push(`read: ${bad.join(',')}`);
      }
    })();

    // Watch every chunk's good replicas (draining ones count as good: they still serve).
    let minGood = Infinity;
    let watching = true;
    let missingSeen = 0;
    const watcher = (async () => {
      while (watching) {
        const f = await fsck(client, '/dec').catch(() => undefined);
        if (f) {
          missingSeen += f.missing;
          for (const p of f.problems) minGood = Math.min(minGood, p.replicas.length);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    // The drain starts when the leader has taken the command, not when the CLI process starts
    // (its start-up alone can take over a second on a loaded machine).
    const decRun = cluster.dfs(['admin', 'decommission', 'c4', '--wait', '--timeout', '90s', '--json'], { timeoutMs: 120_000 });
    await waitFor('the leader to mark c4 draining', async () => ['decommissioning', 'decommissioned'].includes((await client.clusterStatus()).chunkservers.find((c) => c.id === 'c4')?.state ?? ''), 60_000, 50);
    const decommissionAt = Date.now();
    const dec = await decRun;
    assert.equal(dec.code, 0, dec.stderr);
    const dj = JSON.parse(dec.stdout) as { state: string; chunksToDrain: number };
    assert.equal(dj.state, 'decommissioned');
    assert.equal(dj.chunksToDrain, 0);
    const drainedMs = Date.now() - decommissionAt;
    const report = JSON.parse((await cluster.dfs(['admin', 'report', '--json'])).stdout) as { chunkservers: Array<{ id: string; state: string; note: string }> };
    const c4 = report.chunkservers.find((c) => c.id === 'c4')!;
    assert.equal(c4.state, 'decommissioned');
    assert.match(c4.note, /safe to stop/);

    watching = false;
    await watcher;
    assert.equal(missingSeen, 0);
    assert.ok(minGood >= 3, `a chunk went down to ${minGood} good replicas while draining`);
    stop = true;
    await Promise.all([writer, reader]);
    assert.deepEqual(loadErrors, []);

    // New writes after the decommission started went elsewhere.
    const late = written.filter((w) => w.startedAt > decommissionAt + 1000);
    for (const [handle, ids] of await replicaMap(client, late)) assert.ok(!ids.includes('c4'), `new chunk ${handle} placed on draining c4`);

    // The mark survives a leader change: c4 carries it into its registration with the new leader.
    const oldLeader = (await client.clusterStatus()).leaderId;
    await cluster.kill(oldLeader);
    await waitFor('a new leader that knows c4 is decommissioned', async () => {
      const st = await client.clusterStatus();
      return st.leaderId !== '' && st.leaderId !== oldLeader && !st.safeMode && st.chunkservers.find((c) => c.id === 'c4')?.state === 'decommissioned';
    }, 60_000, 200);

    // Safe to stop: nothing needs repair once it is gone.
    await cluster.kill('c4');
    await waitFor('c4 declared dead', async () => (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c4')?.state === 'dead', 20_000);
    const after = await fsck(client);
    assert.equal(after.healthy, true, JSON.stringify(after.problems.slice(0, 5)));
    assert.equal(after.replicationQueue, 0);
    assert.deepEqual(await badReads(client, [...files, ...written]), []);
    this.test!.title += ` [${onC4} chunks drained in ${drainedMs} ms, ${written.length} files written meanwhile]`;
  });
});
