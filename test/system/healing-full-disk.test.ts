import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TestCluster, waitFor } from '@dfs/testkit';
import { badReads, fsck, handlesOnDisk, putRandomFiles, type PutFile } from '../lib/healing.js';

/*
 * A full chunkserver (GFS §4.2 placement by free space): c1 runs with a small quota. Once it
 * is full it takes no new chunks and says why (admin report note, master log); writes that
 * raced into it fail over to other nodes, and no write is lost.
 */

const CHUNK = 64 * 1024;
const QUOTA = 8 * CHUNK;

describe('healing: a full chunkserver', function () {
  this.timeout(180_000);
  let cluster: TestCluster;

  before(async function () {
    // --min-replicas 3: a write either gets 3 durable replicas or fails loudly.
    cluster = await TestCluster.start({
      masters: 3, chunkservers: 4, chunkSize: CHUNK, deadAfter: '2s', extraArgs: ['--master-args', '--min-replicas 3'],
    });
  });
  after(async function () {
    await cluster?.stop();
  });

  it('stops taking new chunks, says why, and loses no write', async function () {
    const client = cluster.client();
    // Restart c1 with a quota of ten chunks.
    const c1 = cluster.node('c1');
    c1.args.push('--capacity', String(QUOTA)); // the last --capacity wins
    await cluster.kill('c1');
    cluster.restart('c1');
    await waitFor('c1 back with its quota', async () => {
      const n = (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c1');
      return n?.state === 'live' && n.capacityBytes === QUOTA;
    }, 30_000);

    // Fill c1: files with 4 replicas (one on every node) until c1 says it is full. Writes that
    // race into the full node fail over (NO_SPACE → new replica set without it).
    const files: PutFile[] = [];
    const noteOf = async (): Promise<string> => (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c1')!.note;
    // The client insists on every requested replica, so a 4-replica put that finds c1 full
    // fails loudly (and leaves no file); only acknowledged puts are checked below.
    const refused: string[] = [];
    for (let i = 0; i < 40 && !/^full: /.test(await noteOf()); i++) {
      try {
        files.push(...(await putRandomFiles(client, `/full/a${i}`, 1, CHUNK / 2, CHUNK, 1, { replication: 4 })));
      } catch (err) {
        refused.push((err as Error).message);
      }
    }
    assert.match(await noteOf(), /^full: /, `c1 filled up (refused puts: ${refused.join('; ')})`);
    const held = handlesOnDisk(cluster, 'c1').size;
    assert.ok(held <= QUOTA / (CHUNK / 2), `${held} chunks on c1`);
    // Full: more writes (3 replicas) go elsewhere.
    files.push(...(await putRandomFiles(client, '/full/b', 12, CHUNK / 2, 2 * CHUNK, 2)));
    assert.equal(handlesOnDisk(cluster, 'c1').size, held, 'c1 took no new chunk once full');
    const report = await cluster.dfs(['admin', 'report', '--json']);
    assert.equal(report.code, 0, report.stderr);
    const rj = JSON.parse(report.stdout) as { chunkservers: Array<{ id: string; note: string; usedBytes: number }> };
    const n1 = rj.chunkservers.find((c) => c.id === 'c1')!;
    assert.match(n1.note, /^full: /, JSON.stringify(n1));
    assert.ok(n1.usedBytes <= QUOTA);
    const masterLogs = cluster.info.masters.map((m) => readFileSync(m.log, 'utf8')).join('\n');
    assert.match(masterLogs, /chunkserver is full: no new chunks are placed on it/);

    // No write lost: everything is readable and fully replicated on the nodes with room.
    assert.deepEqual(await badReads(client, files), []);
    // Files written with 3 replicas are healthy; the 4-replica ones can only have 3 while c1 is full.
    await waitFor('fsck healthy for /full/b', async () => (await fsck(client, '/full/b')).healthy, 30_000, 200);
    const all = await fsck(client, '/full');
    assert.equal(all.missing, 0);
    for (const p of all.problems) assert.ok(p.liveReplicas >= 3, JSON.stringify(p));
  });
});
