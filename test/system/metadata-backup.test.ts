import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, type FsckResponse } from '@dfs/proto';
import type { DfsClient } from '@dfs/client';
import { Prng, TestCluster, runDfs, waitFor } from '@dfs/testkit';

/*
 * Disaster recovery with real processes: files written, a backup taken with `dfs admin
 * backup` (from a follower) while writes go on, more written, then every master SIGKILLed
 * and its directory deleted. A new group restored with `dfs master --restore` must serve
 * every backed-up file byte-identical, report fsck healthy, and list (not delete) the chunks
 * written after the backup.
 */

const CHUNK = 64 * 1024;

/** Chunk replica files (one .meta per replica) on every chunkserver. */
function replicaFiles(cluster: TestCluster): Set<string> {
  const out = new Set<string>();
  for (const cs of cluster.info.chunkservers) {
    const dir = join(cs.dir, 'chunks');
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.meta')) out.add(`${cs.id}/${f}`);
  }
  return out;
}

describe('metadata backup and disaster restore', function () {
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

  it('backup from a follower, SIGKILL every master and delete its directory, restore: backed-up files byte-identical, fsck healthy, later chunks listed and kept', async function () {
    const seed = Date.now() % 1_000_000;
    console.log(`      seed ${seed}`);
    const prng = new Prng(seed);
    const backedUp = new Map<string, Buffer>();
    for (let i = 0; i < 6; i++) {
      const data = prng.bytes(prng.between(1, 3 * CHUNK + 1000));
      await client.put(data, `/before/f${i}`);
      backedUp.set(`/before/f${i}`, data);
    }
    await client.mkdir('/before/empty-dir', { parents: true });

    // A backup while a writer keeps going (it must not stop writes).
    const file = join(cluster.dir, 'meta.dfsbak');
    let writing = true;
    let during = 0;
    const writer = (async () => {
      while (writing) await client.put(prng.bytes(1000), `/during/g${during++}`);
    })();
    const taken = await cluster.dfs(['admin', 'backup', file, '--json']);
    writing = false;
    await writer;
    assert.equal(taken.code, 0, taken.stderr);
    const header = JSON.parse(taken.stdout) as { appliedIndex: number; clusterId: string; from: { id: string; role: string } };
    assert.equal(header.from.role, 'follower', 'a caught-up follower takes the backup');
    assert.match(header.clusterId, /^[0-9a-f]{12}$/);
    const verified = await cluster.dfs(['admin', 'backup', '--verify', file]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /^ok: cluster [0-9a-f]{12}, applied index \d+/);

    // The metadata holds every owner and the token key: a client certificate may not take it.
    const denied = await cluster.dfs(['admin', 'backup', `${file}.client`], { env: { DFS_ADMIN_TLS_DIR: cluster.info.tls!.client } });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /BackupMetadata: refused to .* \(allowed: admin\)/);
    assert.ok(!existsSync(`${file}.client`) && !existsSync(`${file}.client.partial`), 'nothing is left behind');

    // A damaged copy is refused with one line, not a stack trace.
    const damaged = Buffer.from(readFileSync(file));
    damaged[damaged.length - 5000] ^= 0x01;
    writeFileSync(`${file}.bad`, damaged);
    const refused = await cluster.dfs(['admin', 'backup', '--verify', `${file}.bad`]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr.trim(), /checksum mismatch/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);

    // After the backup: a new file, and an append to a backed-up file (a newer version of its last chunk and a new chunk).
    const later = prng.bytes(2 * CHUNK + 17);
    await client.put(later, '/after/new');
    await client.append(prng.bytes(CHUNK), '/before/f0');
    const onDisk = replicaFiles(cluster);

    // Disaster: every master dies and loses its directory (its certificate is reissued: kept here).
    for (const m of cluster.info.masters) await cluster.kill(m.id);
    for (const m of cluster.info.masters) {
      const keep = join(cluster.dir, `${m.id}-tls`);
      cpSync(join(m.dir, 'tls'), keep, { recursive: true });
      rmSync(m.dir, { recursive: true, force: true });
      mkdirSync(m.dir, { recursive: true });
      cpSync(keep, join(m.dir, 'tls'), { recursive: true });
    }
    for (const m of cluster.info.masters) {
      const args = m.args;
      m.args = [...args, '--restore', file];
      cluster.restart(m.id);
      m.args = args;
    }

    const restored = cluster.client({ callTimeoutMs: 3_000, retryWindowMs: 60_000 });
    let fsck: FsckResponse | undefined;
    await waitFor(
      'the restored group to lead, adopt the chunkservers and report fsck healthy with the later chunks set aside',
      async () => {
        fsck = await restored.fsck('/').catch(() => undefined);
        return fsck !== undefined && fsck.healthy && fsck.setAside.some((a) => a.reason === 'newer-chunk') && fsck.setAside.some((a) => a.reason === 'newer-version');
      },
      90_000,
      250,
    );
    const status = await restored.clusterStatus();
    assert.equal(status.masters.length, 3);
    assert.equal(status.chunkservers.filter((c) => c.state === 'live').length, 3);

    for (const [path, data] of backedUp) {
      const got = await restored.readFile(path);
      assert.ok(got.equals(data), `${path} reads back byte-identical (${got.length} vs ${data.length} bytes)`);
    }
    assert.ok((await restored.stat('/before/empty-dir')).inode > 0);
    await assert.rejects(restored.stat('/after/new'), (e: { code: ErrorCode }) => e.code === ErrorCode.NOT_FOUND);

    // Nothing the chunkservers held is deleted: the GC runs every tick; give it several.
    const asideBefore = fsck!.setAside.length;
    await new Promise((r) => setTimeout(r, 4_000));
    const again = await restored.fsck('/');
    assert.equal(again.setAside.length + again.setAsideOmitted, asideBefore + fsck!.setAsideOmitted);
    const now = replicaFiles(cluster);
    for (const f of onDisk) assert.ok(now.has(f), `replica ${f} is still on disk`);

    // The restored group serves writes, with handles past the gap, and `dfs fsck` lists what was set aside.
    const fresh = prng.bytes(CHUNK + 5);
    await restored.put(fresh, '/after-restore');
    assert.ok((await restored.readFile('/after-restore')).equals(fresh));
    const printed = await cluster.dfs(['fsck', '/']);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(printed.stdout, /Written after the restored backup/);
    assert.match(printed.stdout, /newer-chunk/);
  });

  it('bad backup flags are one-line typed errors before anything starts', async function () {
    const dir = join(cluster.dir, 'flags');
    const cases: Array<[string[], RegExp]> = [
      [['--backup-every', '1h'], /--backup-every and --backup-dir go together/],
      [['--backup-every', '10ms', '--backup-dir', dir], /--backup-every: at least 1s/],
      [['--backup-every', '1h', '--backup-dir', dir, '--keep', '0'], /--keep: not a positive integer/],
      [['--restore', join(dir, 'missing.dfsbak')], /missing\.dfsbak: no such file/],
    ];
    for (const [flags, want] of cases) {
      const r = await runDfs(['master', '--id', 'x1', '--dir', join(dir, 'm'), '--listen', '127.0.0.1:0', '--insecure', ...flags]);
      assert.notEqual(r.code, 0, flags.join(' '));
      assert.match(r.stderr, want);
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('dfs:')).length, 1, r.stderr);
    }
  });
});
