import { userInfo } from 'node:os';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DfsClient } from '@dfs/client';
import { TestCluster, waitFor, type RunResult } from '@dfs/testkit';

/*
 * The whole namespace through the real CLI on a 3-master cluster: mkdir -p, rmdir, rm -r,
 * atomic mv with POSIX overwrite rules, stat, paginated ls, per-file replication,
 * put --overwrite; and bad input — each a typed error (one line, exit code), nothing changed.
 */

describe('replicated master: the namespace through the CLI, and bad input', function () {
  let cluster: TestCluster;
  let client: DfsClient;
  let work: string;

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 2, chunkSize: 64 * 1024, extraArgs: ['--replication', '2'] });
    client = cluster.client();
    work = mkdtempSync(join(tmpdir(), 'dfs-ns-'));
  });

  after(async function () {
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function ok(args: string[]): Promise<string> {
    const r = await cluster.dfs(args);
    assert.equal(r.code, 0, `dfs ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  /** Everything below `/` (paths, types, sizes): what "nothing changed" compares. */
  async function snapshot(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for await (const e of client.list(dir)) {
        out.push(`${e.path} ${e.type} ${e.size} ${e.mode.toString(8)} ${e.mtimeMs}`);
        if (e.type === 2 && e.path !== '/big') await walk(e.path); // /big: 1,500 entries of the ls test
      }
    };
    await walk('/');
    return out;
  }

  function typedError(r: RunResult, code: number, pattern: RegExp): void {
    assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  }

  it('mkdir -p, stat, mv (file and directory, atomic, POSIX overwrite rules), rmdir, rm -r, replication, put --overwrite', async function () {
    this.timeout(180_000); // ~40 CLI processes: minutes at load 30
    await ok(['mkdir', '-p', '/a/b/c', '/x']);
    await ok(['mkdir', '-p', '/a/b/c']); // exists: fine with -p
    const st = JSON.parse(await ok(['stat', '/a/b/c', '--json'])) as Record<string, unknown>;
    assert.equal(st['type'], 'directory');
    const local = join(work, 'one');
    writeFileSync(local, 'first version');
    await ok(['put', local, '/a/b/f', '--replication', '2']);
    assert.equal((await client.stat('/a/b/f')).replication, 2);
    writeFileSync(local, 'second, longer version');
    typedError(await cluster.dfs(['put', local, '/a/b/f']), 4, /exists/);
    await ok(['put', local, '/a/b/f', '--overwrite']);
    assert.equal((await client.readFile('/a/b/f')).toString(), 'second, longer version');

    await ok(['mv', '/a/b', '/x/moved']); // a directory with its subtree, one command
    assert.equal(await client.tryStat('/a/b'), null);
    assert.equal((await client.stat('/x/moved/c')).type, 2);
    assert.equal((await client.readFile('/x/moved/f')).toString(), 'second, longer version');
    await ok(['mv', '/x/moved/f', '/x']); // into an existing directory
    assert.ok(await client.tryStat('/x/f'));

    const stat = await client.stat('/x/moved');
    assert.ok(stat.mtimeMs > 0);
    await ok(['rmdir', '/x/moved/c']);
    typedError(await cluster.dfs(['rmdir', '/x']), 1, /not empty/i);
    typedError(await cluster.dfs(['rmdir', '/x/f']), 1, /not a directory/i);
    await ok(['rm', '-r', '/x']);
    assert.equal(await client.tryStat('/x'), null);
    assert.ok(await client.tryStat(`/user/${userInfo().username}/.Trash/Current/x/f`), 'rm moves to the trash');
    await ok(['rm', '-r', '--skip-trash', '/a']);
    assert.equal(await client.tryStat('/a'), null);
  });

  it('ls pages through a 1,500-entry directory in name order', async function () {
    this.timeout(60_000);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < 1500; i = next++) await client.mkdir(`/big/e${String(i).padStart(5, '0')}`, { parents: true });
      }),
    );
    const out = (await ok(['ls', '/big'])).trim().split('\n');
    assert.equal(out.length, 1500);
    assert.deepEqual(out, [...out].sort());
    const names: string[] = [];
    for await (const e of client.list('/big', { pageSize: 333 })) names.push(e.name);
    assert.equal(names.length, 1500);
    const listed = new Set(out);
    // --stale-ok may answer from a follower a few entries behind, never with a name that
    // does not exist; within a heartbeat or two it has them all.
    await waitFor('a stale-ok ls to list all 1,500', async () => {
      const stale = (await ok(['ls', '/big', '--stale-ok'])).trim().split('\n');
      assert.ok(stale.every((n) => listed.has(n)), 'a stale-ok ls lists only names that exist');
      return stale.length === 1500;
    }, 30_000, 200);
  });

  it('bad input: each a typed one-line error with its exit code, and nothing changes', async function () {
    this.timeout(90_000);
    await ok(['mkdir', '-p', '/d/sub', '/e']);
    const local = join(work, 'small');
    writeFileSync(local, 'x');
    await ok(['put', local, '/d/file']);
    const before = await snapshot();
    const long = 'n'.repeat(256);
    const cases: Array<[string[], number, RegExp]> = [
      [['mkdir', '/d/../e'], 2, /invalid path|\.\./i],
      [['mkdir', 'relative'], 2, /invalid path|absolute/i],
      [['mkdir', `/d/${long}`], 2, /too long|255/i],
      [['put', local, `/d/${long}`], 2, /too long|255/i],
      [['mv', '/d', '/d/sub/inside'], 2, /itself|inside|descendant|into/i],
      [['mv', '/d', '/d'], 2, /itself/], // like coreutils mv: into an existing directory, so into itself
      [['rm', '/d'], 1, /not empty|directory/i],
      [['rm', '/nope'], 3, /nope/],
      [['mv', '/nope', '/e/x'], 3, /nope/],
      [['mv', '/d/file', '/e/missing/x'], 3, /missing|not found|no such/i],
      [['mkdir', '/d/file/x'], 1, /not a directory/i],
      [['mkdir', '/d'], 4, /exists/i],
      [['mv', '/d/file', '/e', '--overwrite'], 0, /^$/], // into /e (a directory): /e/file
    ];
    for (const [args, code, pattern] of cases.slice(0, -1)) {
      const r = await cluster.dfs(args);
      if (code === 0) assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      else typedError(r, code, pattern);
      assert.deepEqual(await snapshot(), before, `dfs ${args.join(' ')} changed the namespace`);
    }
    // The rename rules for an existing destination (POSIX rename(2)).
    await ok(['mkdir', '-p', '/p/dir1/inner', '/p/dir2', '/p/empty']);
    await ok(['put', local, '/p/f1']);
    await ok(['put', local, '/p/f2']);
    const beforeRename = await snapshot();
    // rename(2) semantics through the library (the CLI's mv moves *into* an existing directory).
    await assert.rejects(client.mv('/p/f1', '/p/f2'), /exists/i);
    await assert.rejects(client.mv('/p/dir2', '/p/dir1'), /exists/i);
    assert.deepEqual(await snapshot(), beforeRename);
    await client.mv('/p/f1', '/p/f2', { overwrite: true }); // file over file
    assert.equal(await client.tryStat('/p/f1'), null);
    await client.mv('/p/dir2', '/p/empty', { overwrite: true }); // dir over empty dir
    await assert.rejects(client.mv('/p/empty', '/p/dir1', { overwrite: true }), /not empty/i); // dir over non-empty dir
    await assert.rejects(client.mv('/p/f2', '/p/dir1', { overwrite: true }), /directory/i); // file over dir
    await assert.rejects(client.mv('/p/empty', '/p/f2', { overwrite: true }), /not a directory/i); // dir over file
  });

  it('admin report --json lists the Raft group with roles, term and indexes', async function () {
    const r = JSON.parse(await ok(['admin', 'report', '--json'])) as {
      leader: { id: string } | null;
      masters: Array<{ id: string; address: string; role: string; term: number; commitIndex: number; appliedIndex: number }>;
    };
    assert.equal(r.masters.length, 3);
    assert.deepEqual(r.masters.map((m) => m.role).sort(), ['follower', 'follower', 'leader']);
    const leader = r.masters.find((m) => m.role === 'leader')!;
    assert.equal(leader.id, r.leader?.id);
    for (const m of r.masters) {
      assert.ok(m.term >= 1 && m.commitIndex > 0 && m.appliedIndex > 0, JSON.stringify(m));
      assert.match(m.address, /^127\.0\.0\.1:\d+$/);
    }
  });
});
