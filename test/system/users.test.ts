import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DfsError, ErrorCode } from '@dfs/proto';
import { TestCluster, waitFor, type RunResult } from '@dfs/testkit';
import { fsck } from '../lib/healing.js';

const CHUNK = 64 * 1024;

function oneLine(r: RunResult): string {
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${r.stderr}`);
  assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  return lines[0]!;
}

/**
 * Two users (alice, bob: bearer tokens) and the superuser against one cluster: permission
 * refusals with their exit code, quotas under concurrent writers, setrep up and down with
 * fsck agreeing, per-user trash restore, the audit log and token revocation.
 */
describe('users: permissions, quotas, setrep, trash, audit, tokens', function () {
  let cluster: TestCluster;
  let work: string;
  let alice: string;
  let bob: string;
  const as = (token: string, args: string[], input?: Buffer): Promise<RunResult> => cluster.dfs(args, { env: { DFS_TOKEN: token }, ...(input ? { input } : {}) });

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 4, chunkSize: CHUNK });
    work = mkdtempSync(join(tmpdir(), 'dfs-users-'));
    const mint = async (args: string[]): Promise<string> => {
      const r = await cluster.dfs(['admin', 'token', 'create', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim().split('\n').pop()!;
    };
    alice = await mint(['--user', 'alice', '--groups', 'alice,staff']);
    bob = await mint(['--user', 'bob', '--ttl', '1h']);
    for (const args of [['mkdir', '-p', '/home/alice', '/home/bob', '/tmp'], ['chown', 'alice:alice', '/home/alice'], ['chown', 'bob:bob', '/home/bob'], ['chmod', '1777', '/tmp']]) {
      const r = await cluster.dfs(args);
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async function () {
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('whoami names the token user; no token is the superuser', async function () {
    assert.match((await as(alice, ['whoami'])).stdout, /^alice groups=alice,staff via=token/);
    // the CLI's own certificate names the OS user, the user the masters run as: the superuser (HDFS)
    assert.match((await cluster.dfs(['whoami'])).stdout, /\(superuser\) via=certificate/);
    const forged = await as(alice.slice(0, -4) + 'AAAA', ['whoami']);
    assert.equal(forged.code, 6);
    assert.match(oneLine(forged), /token rejected: bad signature/);
  });

  it('each rule allowed and denied: create, read, sticky delete, chmod, chown, chgrp; ls -l shows owners', async function () {
    const local = join(work, 'hello.txt');
    writeFileSync(local, 'hello\n');
    assert.equal((await as(alice, ['put', local, '/home/alice/hello.txt', '-q'])).code, 0);
    const ls = await as(bob, ['ls', '-l', '/home/alice']);
    assert.match(ls.stdout, /^-rw-r--r--\s+3 alice\s+alice\s+6 .* \/home\/alice\/hello.txt$/m);

    const create = await as(bob, ['put', local, '/home/alice/x', '-q']);
    assert.equal(create.code, 6, 'bob may not create in alice\'s home');
    assert.match(oneLine(create), /permission denied: user=bob, access=WRITE_EXECUTE, path=\/home\/alice /);

    assert.equal((await as(alice, ['chmod', '600', '/home/alice/hello.txt'])).code, 0);
    const read = await as(bob, ['cat', '/home/alice/hello.txt']);
    assert.equal(read.code, 6);
    assert.match(oneLine(read), /access=READ, path=\/home\/alice\/hello.txt/);
    assert.equal((await as(alice, ['cat', '/home/alice/hello.txt'])).stdout, 'hello\n');

    assert.equal((await as(alice, ['put', local, '/tmp/alices', '-q'])).code, 0);
    const sticky = await as(bob, ['rm', '/tmp/alices']);
    assert.equal(sticky.code, 6);
    assert.match(oneLine(sticky), /sticky/);
    assert.equal((await as(bob, ['put', local, '/tmp/bobs', '-q'])).code, 0);
    assert.equal((await as(bob, ['rm', '--skip-trash', '/tmp/bobs'])).code, 0, 'bob removes his own file from the sticky /tmp');

    assert.equal((await as(bob, ['chmod', '777', '/home/alice/hello.txt'])).code, 6, 'chmod by a non-owner');
    assert.equal((await as(alice, ['chown', 'bob', '/home/alice/hello.txt'])).code, 6, 'chown by a non-superuser');
    assert.equal((await as(alice, ['chgrp', 'staff', '/home/alice/hello.txt'])).code, 0, 'chgrp to one of her groups');
    assert.equal((await as(alice, ['chgrp', 'bob', '/home/alice/hello.txt'])).code, 6, 'chgrp to a group she is not in');
    assert.equal((await cluster.dfs(['chown', '-R', 'bob:bob', '/home/bob'])).code, 0);
    const st = JSON.parse((await as(alice, ['stat', '--json', '/home/alice/hello.txt'])).stdout) as { owner: string; group: string; mode: string };
    assert.deepEqual([st.owner, st.group, st.mode], ['alice', 'staff', '0600']);

    const codes = await cluster.dfs(['help', 'exit-codes']);
    assert.match(codes.stdout, /6 {2}permission denied/);
    assert.match(codes.stdout, /7 {2}quota exceeded/);
  });

  it('a space quota is hit exactly under concurrent writers; the losers leave nothing behind', async function () {
    // room for exactly 3 one-chunk files at replication 3
    assert.equal((await cluster.dfs(['mkdir', '/home/alice/q'])).code, 0);
    assert.equal((await cluster.dfs(['chown', 'alice', '/home/alice/q'])).code, 0);
    assert.equal((await cluster.dfs(['admin', 'quota', 'set', '/home/alice/q', '--space', String(3 * CHUNK * 3), '--files', '100'])).code, 0);
    const client = cluster.client({ token: alice, retryWindowMs: 20_000 });
    const payload = randomBytes(CHUNK);
    const results = await Promise.allSettled(
      Array.from({ length: 7 }, (_, i) => client.put(Readable.from([payload]), `/home/alice/q/f${i}`, { replication: 3 })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && DfsError.is(r.reason, ErrorCode.QUOTA_EXCEEDED)).length;
    assert.equal(ok, 3, `exactly 3 writers fit: ${results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')).join('; ')}`);
    assert.equal(refused, 4);
    const names: string[] = [];
    for await (const e of client.list('/home/alice/q')) names.push(e.name);
    assert.equal(names.length, 3, 'no half-written file is visible');
    const count = await as(alice, ['count', '-q', '/home/alice/q']);
    // QUOTA REM_QUOTA SPACE_QUOTA REM_SPACE_QUOTA DIRS FILES BYTES PATH
    assert.deepEqual(count.stdout.trim().split('\n')[1]!.trim().split(/\s+/), ['100', '96', String(9 * CHUNK), '0', '1', '3', String(3 * CHUNK), '/home/alice/q']);
    const cli = await as(alice, ['put', '-', '/home/alice/q/more', '-q'], Buffer.from('x'));
    assert.equal(cli.code, 7);
    assert.match(oneLine(cli), /space quota of \/home\/alice\/q exceeded/);
    assert.equal((await as(alice, ['admin', 'quota', 'clear', '/home/alice/q'])).code, 6, 'quotas are the superuser\'s');
    assert.equal((await cluster.dfs(['admin', 'quota', 'clear', '/home/alice/q'])).code, 0);
    assert.equal((await as(alice, ['put', '-', '/home/alice/q/more', '-q'], Buffer.from('x'))).code, 0);
  });

  it('setrep down and up: the master trims and copies, -w waits, fsck agrees', async function () {
    const data = randomBytes(3 * CHUNK + 100);
    assert.equal((await as(bob, ['put', '-', '/home/bob/rep.bin', '-q'], data)).code, 0);
    const replicaCounts = async (): Promise<number[]> => (await cluster.client().locate('/home/bob/rep.bin')).chunks.map((c) => c.replicas.length);
    assert.deepEqual(await replicaCounts(), [3, 3, 3, 3]);
    assert.equal((await as(alice, ['setrep', '2', '/home/bob/rep.bin'])).code, 6, 'setrep needs w on the file');
    const down = await as(bob, ['setrep', '2', '-w', '/home/bob/rep.bin']);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(await replicaCounts(), [2, 2, 2, 2]);
    await waitFor('fsck of the file: healthy, nothing over- or under-replicated', async () => {
      const f = await fsck(cluster.client(), '/home/bob/rep.bin');
      return f.healthy && f.overReplicated === 0 && f.underReplicated === 0 && f.totalChunks === 4;
    }, 30_000, 200);
    const up = await as(bob, ['setrep', '4', '-w', '/home/bob/rep.bin']);
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await replicaCounts(), [4, 4, 4, 4]);
    const f = await fsck(cluster.client(), '/home/bob/rep.bin');
    assert.ok(f.healthy && f.underReplicated === 0 && f.overReplicated === 0, JSON.stringify(f));
    assert.ok((await as(bob, ['cat', '/home/bob/rep.bin'])).stdout.length > 0);
    assert.ok((await cluster.client().readFile('/home/bob/rep.bin')).equals(data));
  });

  it('per-user trash: list, restore by its owner only, expunge', async function () {
    const data = randomBytes(1000);
    assert.equal((await as(alice, ['put', '-', '/home/alice/doc', '-q'], data)).code, 0);
    assert.equal((await as(alice, ['rm', '/home/alice/doc'])).code, 0);
    const list = await as(alice, ['trash', 'list', '--json']);
    const entries = JSON.parse(list.stdout) as Array<{ original: string; path: string }>;
    // In Current, or in a checkpoint if the leader's trash tick (every minute) came in between.
    assert.deepEqual(entries.map((e) => e.original), ['/home/alice/doc']);
    assert.match(entries[0]!.path, /^\/user\/alice\/\.Trash\/(Current|\d+)\/home\/alice\/doc$/);
    assert.equal((await as(bob, ['trash', 'restore', '/home/alice/doc'])).code, 3, 'not in bob\'s trash');
    const steal = await as(bob, ['mv', entries[0]!.path, '/tmp/stolen']);
    assert.equal(steal.code, 6, 'bob cannot reach into alice\'s trash');
    const restore = await as(alice, ['trash', 'restore', '/home/alice/doc']);
    assert.equal(restore.code, 0, restore.stderr);
    assert.ok((await cluster.client().readFile('/home/alice/doc')).equals(data));
    assert.equal((await as(alice, ['rm', '/home/alice/doc'])).code, 0);
    assert.equal((await as(alice, ['trash', 'restore', '/home/alice/doc', '--to', '/home/alice/doc.back'])).code, 0);
    assert.ok((await cluster.client().readFile('/home/alice/doc.back')).equals(data));
    assert.equal((await as(alice, ['rm', '/home/alice/doc.back'])).code, 0);
    assert.equal((await as(alice, ['trash', 'expunge'])).code, 0);
    assert.deepEqual(JSON.parse((await as(alice, ['trash', 'list', '--json'])).stdout), []);
  });

  it('the leader writes one audit line per namespace operation, allowed and denied, reads at open', async function () {
    assert.equal((await as(bob, ['mkdir', '/home/alice/audit-denied'])).code, 6);
    assert.equal((await as(bob, ['mv', '/home/alice/hello.txt', '/tmp/audit-stolen'])).code, 6);
    assert.equal((await as(alice, ['cat', '/home/alice/hello.txt'])).code, 0);
    const leaderId = (await cluster.client().clusterStatus()).leaderId;
    const file = join(cluster.node(leaderId).dir, 'audit.log');
    const lines = (): Array<Record<string, unknown>> => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    await waitFor('audit lines', () => lines().some((l) => l['op'] === 'Mkdir' && l['user'] === 'bob'), 10_000);
    const denied = lines().find((l) => l['op'] === 'Mkdir' && l['path'] === '/home/alice/audit-denied')!;
    assert.deepEqual([denied['user'], denied['allowed'], denied['result'], denied['via']], ['bob', false, 'PERMISSION_DENIED', 'token']);
    assert.match(String(denied['client']), /127\.0\.0\.1/);
    const read = lines().filter((l) => l['op'] === 'GetFile' && l['path'] === '/home/alice/hello.txt' && l['user'] === 'alice');
    assert.ok(read.some((l) => l['allowed'] === true && l['result'] === 'ok'), 'a read is logged at open');
    const rename = lines().find((l) => l['op'] === 'Rename' && l['user'] === 'bob' && l['path'] === '/home/alice/hello.txt');
    assert.deepEqual([rename?.['dst'], rename?.['allowed']], ['/tmp/audit-stolen', false]);
    assert.ok(typeof denied['time'] === 'string' && !Number.isNaN(Date.parse(denied['time'] as string)));
  });

  it('a revoked token is refused everywhere', async function () {
    assert.equal((await as(bob, ['whoami'])).code, 0);
    assert.equal((await as(alice, ['admin', 'token', 'revoke', bob])).code, 6, 'only the superuser revokes');
    const r = await cluster.dfs(['admin', 'token', 'revoke', bob]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('every master refuses the revoked token', async () => (await as(bob, ['whoami'])).code === 6, 10_000, 200);
    assert.match(oneLine(await as(bob, ['ls', '/tmp'])), /token rejected: revoked/);
  });
});
