import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TestCluster } from '../lib/cluster.js';
import { badReads, fsck, handlesOnDisk, putRandomFiles, type PutFile } from '../lib/healing.js';
import { waitFor } from '../lib/wait.js';

/*
 * A full chunkserver (GFS §4.2 placement by free space): c1 runs with a small quota. Once it
 * is full it takes no new chunks and says why (admin report note, master log); writes that
 * raced into it fail over to other nodes, and no write is lost.
 */

const CHUNK = 64 * 1024;
const QUOTA = 8 * CHUNK;
const OTHERS = 32 * CHUNK;

describe('healing: a full chunkserver', function () {
  this.timeout(180_000);
  let cluster: TestCluster;

  before(async function () {
    // Every node has a quota (placement weighs free space, so c1 must not be dwarfed by a whole
    // disk); c1's is the smallest. --min-replicas 3: a write either gets 3 replicas or fails loudly.
    cluster = await TestCluster.start({
      masters: 3, chunkservers: 4, chunkSize: CHUNK, deadAfter: '2s',
      extraArgs: ['--chunkserver-args', `--capacity ${OTHERS}`, '--master-args', '--min-replicas 3'],
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

    // Write one-chunk files until c1 says it is full.
    const files: PutFile[] = [];
    const noteOf = async (): Promise<string> => (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c1')!.note;
    for (let i = 0; i < 48 && !/^full: /.test(await noteOf()); i++) {
      files.push(...(await putRandomFiles(client, `/full/a${i}`, 2, CHUNK / 2, CHUNK, 2)));
    }
    assert.match(await noteOf(), /^full: /, 'c1 filled up');
    const held = handlesOnDisk(cluster, 'c1').size;
    assert.ok(held <= QUOTA / (CHUNK / 2), `${held} chunks on c1`);
    // Full: more writes go elsewhere.
    files.push(...(await putRandomFiles(client, '/full/b', 8, CHUNK / 2, CHUNK, 2)));
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
    await waitFor('fsck healthy', async () => (await fsck(client)).healthy, 30_000, 200);
  });
});
