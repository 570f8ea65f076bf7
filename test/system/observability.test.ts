import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT, TestCluster, waitFor } from '@dfs/testkit';
import { parsePrometheus, sumOf } from '../lib/prometheus.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

async function fetchText(url: string): Promise<string> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `${url} → ${res.status}`);
  return res.text();
}

describe('seeing the cluster: status page, /metrics, request ids in logs', function () {
  let cluster: TestCluster;
  let work: string;
  let browser: Browser | undefined;

  before(async function () {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: .ci/run installs Debian's chromium (apt-get install chromium)`);
    cluster = await TestCluster.start({ masters: 3, chunkservers: 4, chunkSize: 64 * 1024, deadAfter: '2s' });
    work = mkdtempSync(join(tmpdir(), 'dfs-obs-'));
  });

  after(async function () {
    await browser?.close();
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function leader(): Promise<{ id: string; http: string }> {
    const status = await cluster.client().clusterStatus();
    const entry = cluster.info.masters.find((m) => m.id === status.leaderId);
    assert.ok(entry, `leader ${status.leaderId} is one of the masters`);
    return { id: entry.id, http: entry.http };
  }

  it('serves /metrics as Prometheus text on every process, and the counters move after a put', async function () {
    const lead = await leader();
    const before = parsePrometheus(await fetchText(`http://${lead.http}/metrics`));
    const csBefore = await Promise.all(cluster.info.chunkservers.map(async (c) => parsePrometheus(await fetchText(`http://${c.http}/metrics`))));
    const file = join(work, 'metrics.bin');
    writeFileSync(file, randomBytes(300_000));
    const put = await cluster.dfs(['put', file, '/obs/metrics.bin', '-q']);
    assert.equal(put.code, 0, put.stderr);
    const after = parsePrometheus(await fetchText(`http://${lead.http}/metrics`));
    const csAfter = await Promise.all(cluster.info.chunkservers.map(async (c) => parsePrometheus(await fetchText(`http://${c.http}/metrics`))));

    const creates = (s: typeof before): number => sumOf(s, 'dfs_rpc_total', { method: 'CreateFile', code: 'OK' });
    assert.equal(creates(after) - creates(before), 1, 'one CreateFile counted');
    const completes = (x: typeof before): number => sumOf(x, 'dfs_rpc_duration_seconds_count', { method: 'CompleteFile' });
    assert.equal(completes(after) - completes(before), 1, 'CompleteFile latency recorded');
    assert.ok(sumOf(after, 'dfs_raft_commit_index') > sumOf(before, 'dfs_raft_commit_index'), 'raft commit index moved');
    assert.ok(sumOf(after, 'dfs_raft_proposals_committed_total') > sumOf(before, 'dfs_raft_proposals_committed_total'), 'proposals counted');
    assert.ok(sumOf(after, 'dfs_chunks', { state: 'total' }) >= 5);
    const written = (all: Array<typeof before>): number => all.reduce((n, s) => n + sumOf(s, 'dfs_chunkserver_write_bytes_total'), 0);
    assert.ok(written(csAfter) - written(csBefore) >= 3 * 300_000, 'every replica counted its bytes');
    for (const s of csAfter) assert.ok(sumOf(s, 'dfs_process_resident_memory_bytes') > 0, 'process metrics');
  });

  it('logs a request id given to dfs put on the master and on all three chunkservers that served it', async function () {
    const file = join(work, 'traced.bin');
    writeFileSync(file, randomBytes(10_000)); // one chunk: three replicas
    const requestId = `req-${randomBytes(6).toString('hex')}`;
    const put = await cluster.dfs(['put', file, '/obs/traced.bin', '-q', '--request-id', requestId]);
    assert.equal(put.code, 0, put.stderr);
    const { chunks } = await cluster.client().locate('/obs/traced.bin');
    assert.equal(chunks.length, 1);
    const lead = await leader();
    const logOf = (id: string): string => readFileSync(cluster.node(id).log, 'utf8');
    await waitFor(`request id in ${lead.id}'s log`, () => logOf(lead.id).includes(requestId), 10_000);
    for (const replica of chunks[0]!.replicas) {
      await waitFor(`request id in ${replica.id}'s log`, () => logOf(replica.id).includes(requestId), 10_000);
    }
  });

  it('shows a healthy cluster, then a dead chunkserver and a degraded cluster, then healthy again (headless Chromium)', async function () {
    // Enough chunks on every node that re-replication takes a visible moment.
    const client = cluster.client();
    const bulk = join(work, 'bulk.bin');
    writeFileSync(bulk, randomBytes(200_000));
    for (let i = 0; i < 12; i++) await client.put(bulk, `/obs/bulk-${i}`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage({ viewport: { width: 420, height: 900 } }); // a phone-sized screen
    const lead = await leader();
    const url = `http://${lead.http}/`;
    const read = async (): Promise<{ health: string; states: Record<string, string> }> => {
      await page.goto(url);
      const health = (await page.getAttribute('#health', 'data-health')) ?? '';
      const rows = await page.$$eval('tr[data-chunkserver]', (trs) => trs.map((tr) => [tr.getAttribute('data-chunkserver') ?? '', tr.getAttribute('data-state') ?? '']));
      return { health, states: Object.fromEntries(rows) };
    };

    const healthy = await waitFor('a healthy cluster on the status page', async () => {
      const s = await read();
      return s.health === 'healthy' && Object.keys(s.states).length === 4 && Object.values(s.states).every((v) => v === 'live') ? s : undefined;
    }, 30_000);
    assert.deepEqual(Object.keys(healthy.states).sort(), ['c1', 'c2', 'c3', 'c4']);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-healthy.png'), fullPage: true });

    await cluster.kill('c4');
    await waitFor('c4 shown dead and the cluster degraded', async () => {
      const s = await read();
      return s.states.c4 === 'dead' && s.health === 'degraded';
    }, 30_000, 150);
    await page.screenshot({ path: join(ARTIFACTS, 'status-degraded.png'), fullPage: true });

    await waitFor('healthy again once re-replication ends', async () => (await read()).health === 'healthy', 90_000, 250);
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    const events = await page.textContent('body');
    assert.match(events ?? '', /c4 declared dead/);
    const metrics = parsePrometheus(await fetchText(`http://${lead.http}/metrics`));
    assert.ok(sumOf(metrics, 'dfs_replication_copies_done_total') > 0, 're-replication copies counted');

    const follower = cluster.info.masters.find((m) => m.id !== lead.id)!;
    await page.goto(`http://${follower.http}/`);
    const note = await page.textContent('#follower-note');
    assert.match(note ?? '', new RegExp(`leader is ${lead.id}`));
    assert.equal(await page.getAttribute('#follower-note a', 'href'), `http://${lead.http}/`);
  });
});
