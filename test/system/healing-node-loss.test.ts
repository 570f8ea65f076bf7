import assert from 'node:assert/strict';
import { TestCluster, waitFor } from '@dfs/testkit';
import { badReads, fsck, putRandomFiles, replicaMap, status, type PutFile } from '../lib/healing.js';

/*
 * Self-healing after node loss (GFS §4.3, HDFS TestDatanodeDeath): real processes on
 * loopback, SIGKILLed chunkservers, re-replication chunkserver to chunkserver, checked with
 * `dfs fsck` and SHA-256 of every file.
 */

const CHUNK = 64 * 1024;
const DEAD_AFTER_MS = 2000;

describe('healing: node loss', function () {
  this.timeout(240_000);

  describe('four chunkservers on two racks, 50 files; SIGKILL one', function () {
    let cluster: TestCluster;
    let files: PutFile[];

    before(async function () {
      // Racks round-robin: c1, c3 on r1; c2, c4 on r2.
      cluster = await TestCluster.start({ masters: 3, chunkservers: 4, chunkSize: CHUNK, deadAfter: `${DEAD_AFTER_MS}ms`, racks: 2 });
      files = await putRandomFiles(cluster.client(), '/loss', 50, 1, 5 * CHUNK);
    });
    after(async function () {
      await cluster?.stop();
    });

    it('starts healthy: fsck --json reports every chunk with 3 live replicas and exits 0', async function () {
      const r = await cluster.dfs(['fsck', '/', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as { healthy: boolean; chunks: { total: number; underReplicated: number; missing: number; corrupt: number } };
      assert.equal(j.healthy, true, r.stdout);
      assert.ok(j.chunks.total >= 50, `${j.chunks.total} chunks`);
      assert.deepEqual([j.chunks.underReplicated, j.chunks.missing, j.chunks.corrupt], [0, 0, 0]);
    });

    it('re-replicates every chunk of the killed node within dead-after + copy time; every file reads back intact', async function () {
      const client = cluster.client();
      const before = await replicaMap(client, files);
      const lost = [...before.values()].filter((ids) => ids.includes('c2')).length;
      assert.ok(lost > 0);
      const killedAt = Date.now();
      await cluster.kill('c2');
      await waitFor('c2 declared dead', async () => (await status(client)).chunkservers.find((c) => c.id === 'c2')?.state === 'dead', 20_000, 100);
      const deadAt = Date.now();
      // Bound: detection (dead-after + a tick) plus copy time for `lost` small chunks; generous for a loaded 2-core box.
      const bound = DEAD_AFTER_MS + 2000 + 45_000;
      const healthy = await waitFor(
        'fsck healthy after the loss',
        async () => {
          const f = await fsck(client);
          return f.healthy && f.totalChunks === before.size ? f : undefined;
        },
        bound,
        200,
      );
      const healedAt = Date.now();
      this.test!.title += ` [${lost} chunks: dead after ${deadAt - killedAt} ms, healed ${healedAt - deadAt} ms later]`;
      assert.equal(healthy.underReplicated + healthy.missing + healthy.corrupt, 0);

      const after = await replicaMap(client, files);
      for (const [handle, ids] of after) {
        assert.equal(ids.length, 3, `chunk ${handle}: ${ids.join(',')}`);
        assert.ok(!ids.includes('c2'), `chunk ${handle} still placed on the dead node`);
        // c4 is the last node on r2: every re-replicated chunk still spans both racks.
        assert.ok(ids.includes('c4'), `chunk ${handle} on ${ids.join(',')} lost its second rack`);
      }
      assert.deepEqual(await badReads(client, files), []);

      const cli = await cluster.dfs(['fsck', '/loss', '--json']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal((JSON.parse(cli.stdout) as { healthy: boolean }).healthy, true);
      const report = await cluster.dfs(['admin', 'report', '--json']);
      assert.equal(report.code, 0, report.stderr);
      const rj = JSON.parse(report.stdout) as { chunkservers: Array<{ id: string; state: string }>; replicationQueue: number };
      assert.equal(rj.chunkservers.find((c) => c.id === 'c2')?.state, 'dead');
      assert.equal(rj.replicationQueue, 0);
    });
  });

  describe('five chunkservers; SIGKILL two at once', function () {
    let cluster: TestCluster;
    let files: PutFile[];

    before(async function () {
      // Copies throttled to 128 KiB/s per node, so repair outlasts the skew between the two deaths being detected.
      cluster = await TestCluster.start({
        masters: 3, chunkservers: 5, chunkSize: CHUNK, deadAfter: `${DEAD_AFTER_MS}ms`, extraArgs: ['--chunkserver-args', '--copy-rate 128KiB'],
      });
      files = await putRandomFiles(cluster.client(), '/two', 30, CHUNK, 3 * CHUNK);
    });
    after(async function () {
      await cluster?.stop();
    });

    it('loses nothing, and chunks left with one copy are repaired first', async function () {
      const client = cluster.client();
      const before = await replicaMap(client, files);
      const oneLeft = [...before].filter(([, ids]) => ids.includes('c1') && ids.includes('c4')).map(([h]) => h);
      const twoLeft = [...before].filter(([, ids]) => ids.includes('c1') !== ids.includes('c4')).map(([h]) => h);
      assert.ok(oneLeft.length > 0 && twoLeft.length > 0, `${oneLeft.length} one-copy, ${twoLeft.length} two-copy chunks`);
      await Promise.all([cluster.kill('c1'), cluster.kill('c4')]);

      // Poll fsck: when did the last one-copy chunk get a second copy, and when was the last two-copy chunk whole?
      let oneDoneAt = 0;
      let twoDoneAt = 0;
      let sawOneCopy = false;
      await waitFor(
        'fsck healthy after losing two nodes',
        async () => {
          const f = await fsck(client);
          assert.equal(f.missing, 0, `a chunk is missing: ${JSON.stringify(f.problems.filter((p) => p.status === 'missing'))}`);
          const live = new Map(f.problems.map((p) => [p.handle, p.liveReplicas]));
          const now = Date.now();
          const ones = oneLeft.filter((h) => live.get(h) === 1).length;
          if (ones > 0) sawOneCopy = true;
          if (sawOneCopy && ones === 0 && !oneDoneAt) oneDoneAt = now;
          if (twoLeft.some((h) => (live.get(h) ?? 3) < 3) === false && sawOneCopy && !twoDoneAt) twoDoneAt = now;
          if (!f.healthy) return false;
          const dead = (await status(client)).chunkservers.filter((c) => c.state === 'dead').map((c) => c.id).sort();
          return dead.join() === 'c1,c4' && f.totalChunks === before.size;
        },
        120_000,
        100,
      );
      // The two deaths are detected up to a heartbeat apart; copies started in between may
      // already have repaired the shared chunks. When one-copy chunks were seen (the usual
      // case with throttled copies), they must all be repaired before the last two-copy one.
      // (The queue order itself is unit-tested in master.test.ts.)
      if (sawOneCopy) {
        assert.ok(oneDoneAt > 0 && twoDoneAt > 0);
        assert.ok(oneDoneAt <= twoDoneAt, `one-copy chunks done at +${oneDoneAt - twoDoneAt} ms relative to two-copy ones`);
      }
      this.test!.title += sawOneCopy ? ` [one-copy chunks repaired ${twoDoneAt - oneDoneAt} ms before the last two-copy one]` : ' [no one-copy chunk observed]';
      const after = await replicaMap(client, files);
      for (const [handle, ids] of after) {
        assert.equal(ids.length, 3, `chunk ${handle}: ${ids.join(',')}`);
        assert.ok(!ids.includes('c1') && !ids.includes('c4'));
      }
      assert.deepEqual(await badReads(client, files), []);
    });
  });
});
