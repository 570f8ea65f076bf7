// The mount's metadata caches through a real FUSE mount of a real cluster: the kernel's
// attribute, name and "no such file" caches (--attr-timeout, --entry-timeout,
// --negative-timeout) in front of the mount's own (--attr-ttl). Master calls are counted
// from the master's /metrics (dfs_rpc_total by method).
import { strict as assert } from 'node:assert';
import { access, appendFile, chmod, mkdir, readdir, readFile, rename, rmdir, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { TestCluster, waitFor } from '@dfs/testkit';
import { errnoOf, Mount } from '../lib/fuse-mount.js';
import { parsePrometheus, sumOf } from '../lib/prometheus.js';

/** Long kernel timeouts and no cache in the mount process: only the kernel can answer without a call. */
const KERNEL_ONLY = ['--attr-timeout', '60s', '--entry-timeout', '60s', '--negative-timeout', '60s', '--attr-ttl', '0'];
/** No cache anywhere: every stat reaches the master. */
const NO_CACHE = ['--attr-timeout', '0', '--entry-timeout', '0', '--negative-timeout', '0', '--attr-ttl', '0'];

describe('FUSE mount metadata caching (kernel attribute/entry/negative timeouts)', function () {
  this.timeout(240_000);
  let cluster: TestCluster;
  let kernel: Mount; // KERNEL_ONLY
  let strict: Mount; // NO_CACHE

  before(async () => {
    cluster = await TestCluster.start({ masters: 1, chunkservers: 3, chunkSize: 1024 * 1024 });
    kernel = await Mount.start(cluster, KERNEL_ONLY);
    strict = await Mount.start(cluster, NO_CACHE);
    await cluster.client().mkdir('/kc');
  });

  after(async () => {
    await kernel?.stop();
    await strict?.stop();
    await cluster?.stop();
  });

  /** Calls of `method` the masters have handled so far. */
  async function masterCalls(method: string): Promise<number> {
    let n = 0;
    for (const m of cluster.info.masters) n += sumOf(parsePrometheus(await (await fetch(`http://${m.http}/metrics`)).text()), 'dfs_rpc_total', { method });
    return n;
  }

  it('a cached stat does no RPC: the kernel answers stat, access and a known "no such file" itself; without caches each stat is a call', async () => {
    await cluster.client().put(Buffer.from('cached'), '/kc/f');
    assert.equal((await stat(kernel.path('kc/f'))).size, 6); // the one lookup
    assert.equal(await errnoOf(stat(kernel.path('kc/missing'))), 'ENOENT');

    const before = await masterCalls('Stat');
    for (let i = 0; i < 50; i++) {
      assert.equal((await stat(kernel.path('kc/f'))).size, 6);
      await access(kernel.path('kc/f'));
      assert.equal(await errnoOf(stat(kernel.path('kc/missing'))), 'ENOENT');
    }
    assert.equal((await masterCalls('Stat')) - before, 0, '150 cached answers, no Stat call');

    // The control: the same stats through a mount without caches each reach the master.
    await stat(strict.path('kc/f'));
    const strictBefore = await masterCalls('Stat');
    for (let i = 0; i < 20; i++) assert.equal((await stat(strict.path('kc/f'))).size, 6);
    assert.ok((await masterCalls('Stat')) - strictBefore >= 20, 'an uncached stat is a Stat call');
  });

  it('another client\'s change: stat may show the cached answer until the timeout, but open() reads the new version whole and refreshes it', async () => {
    const client = cluster.client();
    await client.put(Buffer.from('v1'), '/kc/changed');
    assert.equal((await stat(kernel.path('kc/changed'))).size, 2);
    const v2 = 'version two, written by another client';
    await client.put(Buffer.from(v2), '/kc/changed', { overwrite: true });
    assert.equal((await stat(kernel.path('kc/changed'))).size, 2, 'within the 60 s attribute timeout the kernel keeps its answer');
    // Close-to-open: open asks the master, and makes the kernel look the name up again
    // (ESTALE once, retried by the VFS) because the size it holds is out of date.
    assert.equal(await readFile(kernel.path('kc/changed'), 'utf8'), v2, 'the new version, whole, not cut at the cached size');
    assert.equal((await stat(kernel.path('kc/changed'))).size, v2.length, 'and the kernel holds the new size now');
    const v3 = 'v3';
    await client.put(Buffer.from(v3), '/kc/changed', { overwrite: true });
    assert.equal(await readFile(kernel.path('kc/changed'), 'utf8'), v3, 'a shrunk file is not padded to the cached size');
    assert.doesNotMatch(kernel.log, /ESTALE/, 'the revalidation is invisible: no failed call logged');

    await client.rm('/kc/changed', { skipTrash: true });
    assert.equal(await errnoOf(readFile(kernel.path('kc/changed'))), 'ENOENT', 'open of a file deleted elsewhere fails, whatever the kernel cached');

    // A negative answer is kept as long: a file created elsewhere stays invisible until then.
    assert.equal(await errnoOf(stat(kernel.path('kc/later'))), 'ENOENT');
    await client.put(Buffer.from('later'), '/kc/later');
    assert.equal(await errnoOf(stat(kernel.path('kc/later'))), 'ENOENT', 'the kernel keeps "no such file" for --negative-timeout');
    assert.equal(await readFile(strict.path('kc/later'), 'utf8'), 'later', 'a mount without caches sees it at once');
  });

  it('this mount\'s own writes, appends, truncates, chmod, renames, unlinks and mkdir/rmdir show at once, even with 60 s timeouts', async () => {
    const p = (name: string): string => kernel.path(`kc/${name}`);
    assert.equal(await errnoOf(stat(p('own'))), 'ENOENT'); // now cached as absent
    await writeFile(p('own'), 'one');
    assert.equal((await stat(p('own'))).size, 3, 'a create over a cached "no such file"');
    await appendFile(p('own'), 'two');
    assert.equal((await stat(p('own'))).size, 6);
    assert.equal(await readFile(p('own'), 'utf8'), 'onetwo');
    assert.equal(await readFile(strict.path('kc/own'), 'utf8'), 'onetwo', 'committed at close: another mount sees it');
    await truncate(p('own'), 2);
    assert.equal((await stat(p('own'))).size, 2);
    await chmod(p('own'), 0o600);
    assert.equal((await stat(p('own'))).mode & 0o777, 0o600);
    await rename(p('own'), p('own2'));
    assert.equal(await errnoOf(stat(p('own'))), 'ENOENT');
    assert.equal((await stat(p('own2'))).size, 2);
    assert.equal(await readFile(p('own2'), 'utf8'), 'on');
    await unlink(p('own2'));
    assert.equal(await errnoOf(stat(p('own2'))), 'ENOENT');
    assert.ok(!(await readdir(kernel.path('kc'))).includes('own2'));
    await mkdir(p('d'));
    assert.ok((await stat(p('d'))).isDirectory());
    await rmdir(p('d'));
    assert.equal(await errnoOf(stat(p('d'))), 'ENOENT');
    assert.equal(await cluster.client().tryStat('/kc/own2'), null);
  });

  it('with the default timeouts another client\'s change shows within the stated bound (--attr-ttl + the largest kernel timeout = 2 s)', async () => {
    const m = await Mount.start(cluster);
    try {
      const bound = Number(/"stalenessBoundMs":(\d+)/.exec(m.log)?.[1]);
      assert.equal(bound, 2000, 'the mount logs its bound');
      const client = cluster.client();
      await client.put(Buffer.from('v1'), '/kc/bounded');
      assert.equal((await stat(m.path('kc/bounded'))).size, 2);
      assert.equal(await errnoOf(stat(m.path('kc/bounded-new'))), 'ENOENT');

      // The bound is a deadline the caches guarantee; the slack covers a loaded machine's scheduling.
      const slackMs = 5000;
      const seenWithin = async (what: string, change: () => Promise<unknown>, check: () => Promise<boolean>): Promise<number> => {
        await change();
        const t0 = Date.now();
        await waitFor(what, check, bound + slackMs, 20);
        return Date.now() - t0;
      };
      const size = await seenWithin('the new size', () => client.put(Buffer.from('version 2'), '/kc/bounded', { overwrite: true }), async () => (await stat(m.path('kc/bounded'))).size === 9);
      const created = await seenWithin('the new name', () => client.put(Buffer.from('x'), '/kc/bounded-new'), async () => (await errnoOf(stat(m.path('kc/bounded-new')))) === 'OK');
      const removed = await seenWithin('the removal', () => client.rm('/kc/bounded', { skipTrash: true }), async () => (await errnoOf(stat(m.path('kc/bounded')))) === 'ENOENT');
      console.log(`      seen after: size ${size} ms, new name ${created} ms, removal ${removed} ms (bound ${bound} ms)`);

      // A commit keeps the parent's cached attributes with the commit's time as its mtime and
      // ctime: exactly what the master set (one command touches both with the same time).
      await stat(m.path('kc'));
      await writeFile(m.path('kc/parent-probe'), 'p');
      const [local, master] = [await stat(m.path('kc')), await client.stat('/kc')];
      assert.deepEqual([local.mtimeMs, local.ctimeMs], [master.mtimeMs, master.ctimeMs], 'the directory times the mount shows after its own create');
    } finally {
      await m.stop();
    }
  });
});
