import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { TestCluster, waitFor } from '@dfs/testkit';
import { sha256 } from '../lib/files.js';
import { badReads, fsck, handlesOnDisk, putRandomFiles, replicaMap, type PutFile } from '../lib/healing.js';

/*
 * A node that was away (GFS §4.4, §4.5): while c3 is down, files are deleted, overwritten and
 * appended to (a new chunk version). When c3 comes back its full chunk report shows orphans
 * (chunks no file refers to) and stale replicas (an old version): those are deleted; every
 * other replica stays, and every chunk ends with exactly its target number of replicas.
 */

const CHUNK = 64 * 1024;
const NODES = ['c1', 'c2', 'c3', 'c4'];

describe('healing: a node that was away comes back', function () {
  this.timeout(180_000);
  let cluster: TestCluster;

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 4, chunkSize: CHUNK, deadAfter: '2s' });
  });
  after(async function () {
    await cluster?.stop();
  });

  it('its orphans and stale replicas are deleted; nothing else is', async function () {
    const client = cluster.client();
    const keep = await putRandomFiles(client, '/keep', 10, 1, 3 * CHUNK);
    await putRandomFiles(client, '/del', 10, CHUNK, 3 * CHUNK);
    const rw = await putRandomFiles(client, '/rw', 10, CHUNK, 3 * CHUNK);
    // Appended files: ones whose partial last chunk has a replica on c3 (it becomes stale there).
    const appended: PutFile[] = [];
    for (const f of keep) {
      const { chunks } = await client.locate(f.path);
      const last = chunks[chunks.length - 1];
      if (appended.length < 3 && f.size % CHUNK !== 0 && last?.replicas.some((r) => r.id === 'c3')) appended.push(f);
    }

    await cluster.kill('c3');
    await waitFor('c3 declared dead', async () => (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c3')?.state === 'dead', 20_000);
    const away = handlesOnDisk(cluster, 'c3');

    // While c3 is away: delete, overwrite, append (the appended chunk gets a new version).
    await client.rm('/del', { recursive: true, skipTrash: true });
    const rewritten: PutFile[] = [];
    for (const f of rw) {
      const data = randomBytes(f.size);
      await client.put(Readable.from([data]), f.path, { overwrite: true });
      rewritten.push({ ...f, sha: sha256(data) });
    }
    // Appends go to a whole replica set (an under-replicated last chunk makes the writer start a new one).
    await waitFor('fsck healthy without c3 (before appending)', async () => (await fsck(client)).healthy, 60_000, 200);
    const grown: PutFile[] = [];
    for (const f of appended) {
      const extra = randomBytes(1000);
      const before = await client.readFile(f.path);
      await client.append(Readable.from([extra]), f.path);
      grown.push({ path: f.path, size: f.size + extra.length, sha: sha256(Buffer.concat([before, extra])) });
    }
    const files = [...keep.filter((f) => !appended.includes(f)), ...grown, ...rewritten];
    await waitFor('fsck healthy without c3', async () => (await fsck(client)).healthy, 60_000, 200);

    const current = await replicaMap(client, files);
    const orphans = [...away].filter((h) => !current.has(h));
    const staleCandidates = new Set<number>();
    for (const f of grown) {
      const { chunks } = await client.locate(f.path);
      for (const c of chunks) if (c.version > 1 && away.has(c.handle)) staleCandidates.add(c.handle);
    }
    assert.ok(orphans.length > 0, 'c3 held replicas of deleted and overwritten files');
    assert.ok(staleCandidates.size > 0, 'appends bumped the version of chunks c3 holds (its copies are stale)');

    cluster.restart('c3');
    await waitFor('c3 registered again', async () => (await client.clusterStatus()).chunkservers.find((c) => c.id === 'c3')?.state === 'live', 30_000);
    await waitFor(
      'orphans deleted from c3 and every chunk at exactly 3 replicas, on disk too',
      async () => {
        const onC3 = handlesOnDisk(cluster, 'c3');
        if (orphans.some((h) => onC3.has(h))) return false;
        if (!(await fsck(client)).healthy) return false;
        const map = await replicaMap(client, files);
        if (![...map.values()].every((ids) => ids.length === 3)) return false;
        // An excess copy (made while c3 was away) leaves the master's map first, the disk on
        // the holder's next heartbeat: wait for the disks to agree too.
        return [...map.keys()].every((handle) => NODES.filter((id) => handlesOnDisk(cluster, id).has(handle)).length === 3);
      },
      60_000,
      250,
    );

    // Nothing else: every current chunk has exactly 3 replicas on disk (current version), no orphan is left anywhere.
    const map = await replicaMap(client, files);
    const onDisk = new Map(NODES.map((id) => [id, handlesOnDisk(cluster, id)]));
    for (const [handle, ids] of map) {
      const holders = NODES.filter((id) => onDisk.get(id)!.has(handle));
      assert.equal(holders.length, 3, `chunk ${handle} on disk at ${holders.join(',')}, located at ${ids.join(',')}`);
    }
    for (const [id, handles] of onDisk) {
      const garbage = [...handles].filter((h) => !map.has(h));
      assert.deepEqual(garbage, [], `garbage left on ${id}`);
    }
    // A stale replica still on c3 would be a fourth holder on disk above (GetFile never lists it): none is.
    assert.deepEqual(await badReads(client, files), []);
    this.test!.title += ` [${orphans.length} orphans, ${staleCandidates.size} stale]`;
  });
});
