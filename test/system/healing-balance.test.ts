import assert from 'node:assert/strict';
import { TestCluster, waitFor } from '@dfs/testkit';
import { badReads, fsck, putRandomFiles } from '../lib/healing.js';

/*
 * `dfs admin balance` (HDFS Balancer): c4 is away while data is written, so it comes back
 * empty beside three half-full nodes; the balancer moves replicas (copy, then delete the
 * source) until every node is within the threshold of the mean, and no file loses a replica.
 */

const CHUNK = 64 * 1024;
const QUOTA = 8 * 1024 * 1024;

describe('healing: balance', function () {
  this.timeout(180_000);
  let cluster: TestCluster;

  before(async function () {
    // Every node has the same quota, so utilisation = used / 8 MiB.
    cluster = await TestCluster.start({
      masters: 3, chunkservers: 4, chunkSize: CHUNK, deadAfter: '2s', extraArgs: ['--chunkserver-args', `--capacity ${QUOTA}`],
    });
  });
  after(async function () {
    await cluster?.stop();
  });

  it('fills an empty node until every node is within the threshold of the mean', async function () {
    const client = cluster.client();
    await cluster.kill('c4');
    await waitFor('c4 declared dead', async () => (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c4')?.state === 'dead', 20_000);
    const files = await putRandomFiles(client, '/bal', 24, CHUNK, 2 * CHUNK);
    cluster.restart('c4');
    await waitFor('c4 live and empty', async () => {
      const c4 = (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c4');
      return c4?.state === 'live' && c4.chunkCount === 0;
    }, 30_000);
    const before = await cluster.dfs(['admin', 'balance', '--status', '--json']);
    assert.equal(before.code, 0, before.stderr);
    assert.equal((JSON.parse(before.stdout) as { balanced: boolean }).balanced, false, before.stdout);

    let minGood = Infinity;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const f = await fsck(client).catch(() => undefined);
        for (const p of f?.problems ?? []) minGood = Math.min(minGood, p.replicas.length);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const run = await cluster.dfs(['admin', 'balance', '--threshold', '10', '--wait', '--timeout', '90s', '--json'], { timeoutMs: 120_000 });
    watching = false;
    await watcher;
    assert.equal(run.code, 0, run.stderr);
    const j = JSON.parse(run.stdout) as { active: boolean; balanced: boolean; maxDeviation: number; movesDone: number };
    assert.equal(j.active, false);
    // Heartbeats carry the new usage within a second: check the final spread from the report.
    await waitFor('every node within 10 points of the mean', async () => {
      const st = await client.clusterStatus();
      const live = st.chunkservers.filter((c) => c.state === 'live');
      const mean = (100 * live.reduce((s, c) => s + c.usedBytes, 0)) / (QUOTA * live.length);
      return live.every((c) => Math.abs((100 * c.usedBytes) / QUOTA - mean) <= 10 + 1);
    }, 10_000, 200);
    assert.ok(j.movesDone > 0);
    const c4 = (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c4')!;
    assert.ok(c4.chunkCount > 0, 'c4 received replicas');
    assert.ok(minGood >= 3, `a chunk went down to ${minGood} replicas during balancing`);
    await waitFor('fsck healthy', async () => (await fsck(client)).healthy, 20_000, 200);
    assert.deepEqual(await badReads(client, files), []);
    this.test!.title += ` [${j.movesDone} moves]`;
  });
});
