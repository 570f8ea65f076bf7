import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DfsClient } from '@dfs/client';
import { Prng, TestCluster, waitFor } from '@dfs/testkit';

/*
 * Directory snapshots with real processes: a snapshot, then delete, overwrite, append and
 * rename in the live tree; the snapshot reads back byte-identical (library and CLI), the diff
 * lists exactly the changes, the GC keeps the chunks it holds and deletes them once it is
 * deleted; it survives a leader SIGKILL and a restart of every master; restore copies it back.
 */

const CHUNK = 64 * 1024;

/** Chunkservers holding a replica file of `handle` on disk. */
function holders(cluster: TestCluster, handle: number): string[] {
  return cluster.info.chunkservers.filter((cs) => existsSync(join(cs.dir, 'chunks', `${handle}.meta`))).map((cs) => cs.id);
}

describe('directory snapshots', function () {
  this.timeout(300_000); // several cluster-wide restarts; the shared 2-core machine runs at load 30-40
  let cluster: TestCluster;
  let client: DfsClient;

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 3, chunkSize: CHUNK });
    client = cluster.client({ callTimeoutMs: 3_000, retryWindowMs: 60_000 });
  });

  after(async function () {
    await cluster?.stop();
  });

  async function leaderId(): Promise<string> {
    return waitFor('a master leader', async () => (await client.clusterStatus().catch(() => undefined))?.leaderId || undefined, 60_000);
  }

  it('snapshot, then delete, overwrite, append and rename: byte-identical reads, an exact diff, GC keeps then frees, survives leader SIGKILL and a restart of every master', async function () {
    const seed = Date.now() % 1_000_000;
    console.log(`      seed ${seed}`);
    const prng = new Prng(seed);
    const files = new Map<string, Buffer>([
      ['a', prng.bytes(2 * CHUNK + 300)],
      ['sub/b', prng.bytes(CHUNK + 7)],
      ['c', prng.bytes(1000)],
      ['d', prng.bytes(500)],
      ['e', prng.bytes(CHUNK + 1)],
    ]);
    for (const [name, data] of files) await client.put(data, `/proj/${name}`);

    const dfs = async (...args: string[]): Promise<string> => {
      const r = await cluster.dfs(args);
      assert.equal(r.code, 0, `dfs ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await dfs('snapshot', 'allow', '/proj');
    assert.equal((await dfs('snapshot', 'create', '/proj', 's1')).trim(), '/proj/.snapshot/s1');
    const aHandles = (await client.locate('/proj/.snapshot/s1/a')).chunks.map((c) => c.handle);

    await client.rm('/proj/a', { skipTrash: true });
    await client.put(prng.bytes(3000), '/proj/sub/b', { overwrite: true });
    const appended = prng.bytes(CHUNK);
    await client.append(appended, '/proj/c'); // extends the last chunk the snapshot holds
    await client.mv('/proj/d', '/proj/sub/d2');
    await client.mkdir('/proj/new');

    const readBack = async (): Promise<void> => {
      for (const [name, data] of files) {
        const got = await client.readFile(`/proj/.snapshot/s1/${name}`);
        assert.ok(got.equals(data), `/proj/.snapshot/s1/${name} reads back byte-identical (${got.length} vs ${data.length} bytes)`);
      }
    };
    await readBack();
    assert.ok((await client.readFile('/proj/c')).equals(Buffer.concat([files.get('c')!, appended])), 'the live file has its append');
    const local = join(cluster.dir, 'd.copy');
    await dfs('get', '/proj/.snapshot/s1/d', local);
    assert.ok(readFileSync(local).equals(files.get('d')!), 'dfs get of a snapshot path');
    assert.match(await dfs('ls', '/proj/.snapshot'), /s1/);

    assert.deepEqual((await dfs('snapshot', 'diff', '/proj', 's1')).trim().split('\n'), ['- ./a', 'M ./c', 'R ./d -> ./sub/d2', '+ ./new', 'M ./sub/b']);
    const put = await cluster.dfs(['put', '-', '/proj/.snapshot/s1/x'], { input: 'no' });
    assert.notEqual(put.code, 0, 'a snapshot is read-only');
    assert.match(put.stderr, /read-only/);
    await assert.rejects(client.append(Buffer.from('x'), '/proj/.snapshot/s1/c'), /read-only/, 'an append to a snapshot file must not reach the live file');
    assert.match(await dfs('snapshot', 'list'), /\/proj\/\.snapshot\/s1/);

    // The GC runs every tick: the deleted file's chunks stay, on every replica, while s1 holds them.
    await new Promise((r) => setTimeout(r, 4_000));
    for (const h of aHandles) assert.equal(holders(cluster, h).length, 3, `chunk ${h} of the deleted file is kept`);

    // The snapshot survives a leader crash and a restart of every master.
    const old = await leaderId();
    await cluster.kill(old);
    cluster.restart(old);
    await waitFor('a leader', async () => ((await client.clusterStatus().catch(() => undefined))?.leaderId ?? '') !== '', 60_000);
    await readBack();
    for (const m of cluster.info.masters) await cluster.kill(m.id);
    for (const m of cluster.info.masters) cluster.restart(m.id);
    await leaderId();
    await readBack();
    assert.match(await dfs('snapshot', 'list', '/proj'), /\/proj\/\.snapshot\/s1/);

    // Restore into another directory: the snapshot's tree, byte for byte.
    await dfs('snapshot', 'restore', '/proj', 's1', '--to', '/restored');
    for (const [name, data] of files) assert.ok((await client.readFile(`/restored/${name}`)).equals(data), `/restored/${name}`);
    // In place: the four changed files come back, the untouched one is left as it is, newer entries stay.
    assert.match(await dfs('snapshot', 'restore', '/proj', 's1'), /: 4 files \(.*\) copied, 1 unchanged/);
    for (const [name, data] of files) assert.ok((await client.readFile(`/proj/${name}`)).equals(data), `/proj/${name} restored`);
    assert.ok(await client.tryStat('/proj/sub/d2'), 'entries made after the snapshot are kept');

    // Deleted, the snapshot frees the chunks only it held.
    await dfs('snapshot', 'delete', '/proj', 's1');
    await waitFor('the GC to delete the chunks only the snapshot held', () => aHandles.every((h) => holders(cluster, h).length === 0), 60_000, 250);
    const fsck = await client.fsck('/');
    assert.equal(fsck.healthy, true);
  });
});
