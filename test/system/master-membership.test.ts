import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { MasterServiceClient, channelOptions, freePort, type StatResponse } from '@dfs/proto';
import { channelCredentials, type Security } from '@dfs/security';
import type { DfsClient } from '@dfs/client';
import { DFS_BIN, TestCluster, waitFor } from '@dfs/testkit';

/*
 * The master group's log and membership: a master that missed thousands of commands
 * catches up through a snapshot (the log it missed is compacted away), and a master is
 * replaced at run time with `dfs admin masters add` / `remove`.
 */

const SNAPSHOT_EVERY = 500;

/** A stale_ok Stat answered by one given master from its own database. */
function statOn(security: Security, address: string, path: string): Promise<StatResponse | undefined> {
  const c = new MasterServiceClient(address, channelCredentials(security), channelOptions());
  return new Promise<StatResponse | undefined>((resolve) => {
    c.stat({ path, staleOk: true }, new Metadata(), { deadline: Date.now() + 2_000 }, (err, res) => {
      c.close();
      resolve(err ? undefined : res);
    });
  });
}

describe('replicated master: catch-up through snapshots, membership change', function () {
  let cluster: TestCluster;
  let client: DfsClient;
  const extra: ChildProcess[] = [];

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 1, extraArgs: ['--master-args', `--snapshot-every ${SNAPSHOT_EVERY}`] });
    client = cluster.client({ callTimeoutMs: 3_000, retryWindowMs: 30_000 });
  });

  after(async function () {
    for (const p of extra) if (p.exitCode === null) p.kill('SIGKILL');
    await cluster?.stop();
  });

  async function leaderId(): Promise<string> {
    return waitFor('a leader', async () => (await client.clusterStatus()).leaderId || undefined, 30_000);
  }

  it('a master restarted after missing 3,000 commands catches up from a snapshot plus the log tail', async function () {
    this.timeout(120_000);
    const leader = await leaderId();
    const follower = cluster.info.masters.find((m) => m.id !== leader)!;
    await cluster.kill(follower.id);
    const snapDir = join(follower.dir, 'raft', 'snapshots');
    const before = new Set(readdirSync(snapDir));

    const N = 3000;
    let next = 0;
    const CONCURRENCY = 24;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < N; i = next++) await client.mkdir(`/bulk/d${String(i).padStart(4, '0')}`, { parents: true });
      }),
    );
    const report = await client.clusterStatus();
    const leaderEntry = report.masters.find((m) => m.id === report.leaderId)!;
    assert.equal(report.masters.find((m) => m.id === follower.id)?.role, 'unreachable', 'the leader reports the dead follower unreachable');
    assert.ok(leaderEntry.commitIndex > N, `commit index ${leaderEntry.commitIndex}`);

    cluster.restart(follower.id);
    await waitFor(`${follower.id} to serve the last directory from its own database`, () => statOn(cluster.security, follower.address, '/bulk/d2999'), 60_000, 200);
    // It could not have caught up from the log alone: the leader compacted it. The snapshot
    // it installed is in its snapshot directory (the log behind it is gone on the leader).
    const installed = readdirSync(snapDir).filter((f) => /^snap-\d+-\d+\.db$/.test(f) && !before.has(f));
    assert.ok(installed.length > 0, `a snapshot arrived in ${snapDir}`);
    await waitFor(`${follower.id} listed as a follower`, async () => (await client.clusterStatus()).masters.find((m) => m.id === follower.id)?.role === 'follower', 20_000);
    const names: string[] = [];
    for await (const e of client.list('/bulk', { pageSize: 700, staleOk: false })) names.push(e.name);
    assert.equal(names.length, N);
  });

  it('replaces a master: start m4 with --join, `dfs admin masters add m4=ADDR`, `remove` a follower, the group serves on', async function () {
    this.timeout(120_000);
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const dir = join(cluster.dir, 'm4');
    mkdirSync(dir, { recursive: true });
    const peers = cluster.info.masters.map((m) => `${m.id}=${m.address}`).join(',');
    // Its certificate, from the cluster's CA, in DIR/tls where a master looks by default.
    const issued = await cluster.dfs(['admin', 'cert', 'issue', '--role', 'master', '--name', 'm4', '--host', '127.0.0.1', '--out', join(dir, 'tls'), '--ca', cluster.info.tls!.ca]);
    assert.equal(issued.code, 0, issued.stderr);
    const logFd = openSync(join(dir, 'master.log'), 'a');
    const m4 = spawn(process.execPath, [DFS_BIN, 'master', '--id', 'm4', '--dir', dir, '--listen', address, '--peers', peers, '--join', '--snapshot-every', String(SNAPSHOT_EVERY)], {
      stdio: ['ignore', logFd, logFd],
      env: { ...process.env, DFS_PARENT_PID: String(process.pid) },
    });
    closeSync(logFd);
    extra.push(m4);

    // A joining master never elects itself: it waits to be added.
    await client.mkdir('/before-join');
    const add = await cluster.dfs(['admin', 'masters', 'add', `m4=${address}`], { timeoutMs: 100_000 });
    assert.equal(add.code, 0, add.stderr);
    await waitFor('m4 to hold the namespace', () => statOn(cluster.security, address, '/before-join'), 30_000, 200);

    const leader = await leaderId();
    const victim = cluster.info.masters.find((m) => m.id !== leader)!;
    const remove = await cluster.dfs(['admin', 'masters', 'remove', victim.id]);
    assert.equal(remove.code, 0, remove.stderr);
    await cluster.kill(victim.id);

    await client.mkdir('/after-replace');
    await waitFor('m4 to apply writes made after the replacement', () => statOn(cluster.security, address, '/after-replace'), 30_000, 200);
    const json = await cluster.dfs(['admin', 'report', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const masters = (JSON.parse(json.stdout) as { masters: Array<{ id: string; role: string; address: string }> }).masters;
    assert.deepEqual(masters.map((m) => m.id).sort(), cluster.info.masters.filter((m) => m.id !== victim.id).map((m) => m.id).concat('m4').sort());
    for (const m of masters) assert.ok(['leader', 'follower'].includes(m.role), `${m.id} is ${m.role}`);
    assert.equal(masters.find((m) => m.id === 'm4')?.address, address);

    const bad = await cluster.dfs(['admin', 'masters', 'add', 'm5=nowhere']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /ID=HOST:PORT/);
  });
});
