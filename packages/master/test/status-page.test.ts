import assert from 'node:assert/strict';
import { ClusterStatusResponse, ChunkserverInfo } from '@dfs/proto';
import { healthOf } from '../src/observability/events.js';
import { renderStatusPage } from '../src/observability/status-page.js';

/* The badge is a promise: it never says "healthy" from a view that cannot vouch for anything. */

function status(over: Partial<ClusterStatusResponse>): ClusterStatusResponse {
  return ClusterStatusResponse.fromPartial({ leaderId: 'm1', leaderAddress: '127.0.0.1:7001', ...over });
}
const live = (id: string): ChunkserverInfo => ChunkserverInfo.fromPartial({ id, state: 'live', capacityBytes: 1, address: `127.0.0.1:${id.length}` });

describe('status page health badge', () => {
  it('a view that knows no chunkserver is never healthy (degraded when empty, data at risk with chunks)', () => {
    assert.equal(healthOf(status({ chunkservers: [] })), 'degraded');
    assert.equal(healthOf(status({ chunkservers: [], totalChunks: 5 })), 'data at risk');
    assert.equal(healthOf(status({ chunkservers: [{ ...live('c1'), state: 'dead' }], totalChunks: 5 })), 'data at risk');
    assert.equal(healthOf(status({ chunkservers: [live('c1')], totalChunks: 5 })), 'healthy');
  });

  it('a follower page says whose view it is and who leads, and lists the chunkservers it knows', () => {
    const html = renderStatusPage({
      selfId: 'm2', isLeader: false, status: status({ chunkservers: [live('c1'), { ...live('c2'), state: 'dead' }] }), events: [], nowMs: 0, leaderHttp: '127.0.0.1:8001',
    });
    assert.match(html, /id="follower-note">This master \(m2\) is not the leader\. The leader is <b>m1<\/b>/);
    assert.match(html, /own view/);
    assert.match(html, /data-chunkserver="c1" data-state="live"/);
    assert.match(html, /data-chunkserver="c2" data-state="dead"/);
    const empty = renderStatusPage({ selfId: 'm3', isLeader: false, status: status({ chunkservers: [] }), events: [], nowMs: 0 });
    assert.doesNotMatch(empty, /data-health="healthy"/);
  });

  it('lists the cluster id, this master\'s last backup and the replicas set aside after a restore', () => {
    const html = renderStatusPage({
      selfId: 'm1', isLeader: true, status: status({ chunkservers: [live('c1')] }), events: [], nowMs: Date.parse('2026-01-01T01:00:00Z'),
      backup: { clusterId: '00ab12cd34ef', last: { createdAt: '2026-01-01T00:00:00.000Z', appliedIndex: 42, bytes: 4096, to: '/backups/x.dfsbak' }, setAside: 3 },
    });
    assert.match(html, /cluster <b>00ab12cd34ef<\/b>/);
    assert.match(html, /id="last-backup" data-time="2026-01-01T00:00:00.000Z"/);
    assert.match(html, /60 min ago, index 42/);
    assert.match(html, /id="set-aside">3</);
    const snaps = renderStatusPage({
      selfId: 'm1', isLeader: true, status: status({ chunkservers: [] }), events: [], nowMs: 0,
      snapshots: [{ path: '/proj', name: 's1', createdMs: Date.parse('2026-01-01T00:00:00Z'), files: 4, bytes: 2048 }],
    });
    assert.match(snaps, /data-snapshot="\/proj\/.snapshot\/s1"><td>\/proj<\/td><td>s1<\/td><td>2026-01-01T00:00:00.000Z<\/td><td>4<\/td><td>2.0 KiB/);
    const none = renderStatusPage({ selfId: 'm1', isLeader: true, status: status({ chunkservers: [] }), events: [], nowMs: 0, backup: { setAside: 0 }, snapshots: [] });
    assert.match(none, /<table id="snapshots">.*none \(dfs snapshot allow DIR/);
    assert.match(none, /none taken by this master/);
    assert.doesNotMatch(none, /set-aside/);
  });
});
