import type { ClusterStatusResponse } from '@dfs/proto';
import { healthOf, type ClusterEvent } from './events.js';

/** Escapes text for HTML. */
function h(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 && u > 0 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function ago(nowMs: number, ms: number): string {
  if (!ms) return '–';
  const s = Math.max(0, (nowMs - ms) / 1000);
  return s < 60 ? `${s.toFixed(1)} s ago` : `${Math.round(s / 60)} min ago`;
}

export interface StatusPageInput {
  selfId: string;
  isLeader: boolean;
  status: ClusterStatusResponse;
  events: readonly ClusterEvent[];
  /** HTTP address of the leader's status page, when known. */
  leaderHttp?: string;
  nowMs: number;
  /** Metadata backups: the cluster id, this master's last backup, replicas set aside after a restore. */
  backup?: BackupSummary;
  /** Every directory snapshot (this master's applied state), oldest first per directory. */
  snapshots?: Array<{ path: string; name: string; createdMs: number; files: number; bytes: number }>;
}

function snapshotSection(list: StatusPageInput['snapshots']): string {
  if (list === undefined) return '';
  const rows = list.length
    ? list.map((s) => `<tr data-snapshot="${h(s.path)}/.snapshot/${h(s.name)}"><td>${h(s.path)}</td><td>${h(s.name)}</td><td>${new Date(s.createdMs).toISOString()}</td><td>${s.files}</td><td>${bytes(s.bytes)}</td></tr>`).join('')
    : '<tr><td colspan="5"><small>none (dfs snapshot allow DIR; dfs snapshot create DIR)</small></td></tr>';
  return `<h2>Snapshots</h2><div class="wrap"><table id="snapshots"><tr><th>directory</th><th>name</th><th>taken (UTC)</th><th>files</th><th>bytes</th></tr>${rows}</table></div>`;
}

export interface BackupSummary {
  clusterId?: string;
  /** The last backup this master took (on demand or scheduled). */
  last?: { createdAt: string; appliedIndex: number; bytes: number; to: string };
  /** Replicas written after the backup this group was restored from. */
  setAside: number;
}

function backupSection(b: BackupSummary | undefined, nowMs: number): string {
  if (!b) return '';
  const last = b.last
    ? `last backup <b id="last-backup" data-time="${h(b.last.createdAt)}">${h(b.last.createdAt)}</b> (${ago(nowMs, Date.parse(b.last.createdAt))}, index ${b.last.appliedIndex}, ${bytes(b.last.bytes)}, ${h(b.last.to)})`
    : 'last backup <b id="last-backup">none taken by this master</b>';
  const aside = b.setAside > 0 ? `<span>written after the restored backup <b id="set-aside">${b.setAside}</b> replicas (see dfs fsck)</span>` : '';
  return `<h2>Metadata backups</h2><div class="kv"><span>cluster <b>${h(b.clusterId ?? 'unnamed')}</b></span><span>${last}</span>${aside}</div>`;
}

const STYLE = `
body{font:15px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;padding:12px;background:#f6f7f9;color:#1d2330}
h1{font-size:20px;margin:0 0 8px} h2{font-size:16px;margin:18px 0 6px}
.health{display:inline-block;padding:6px 12px;border-radius:6px;font-weight:600;color:#fff}
.healthy{background:#1f883d}.degraded{background:#bf8700}.data-at-risk{background:#cf222e}
.note{background:#fff8c5;border:1px solid #d4a72c;padding:8px;border-radius:6px;margin:8px 0}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb;white-space:nowrap}
th{background:#eef0f3}.wrap{overflow-x:auto}
.bar{width:120px;height:10px;background:#e5e7eb;border-radius:5px;overflow:hidden;display:inline-block;vertical-align:middle}
.bar>i{display:block;height:100%;background:#0969da}
.state-live{color:#1f883d;font-weight:600}.state-dead{color:#cf222e;font-weight:600}.state-other{color:#bf8700;font-weight:600}
.kv{display:flex;flex-wrap:wrap;gap:8px 18px;margin:8px 0}.kv b{font-weight:600}
small{color:#57606a}
`;

/** The status page: plain server-rendered HTML that refreshes itself; nothing fetched from outside. */
export function renderStatusPage(input: StatusPageInput): string {
  const { status: s, nowMs } = input;
  const health = healthOf(s);
  const live = s.chunkservers.filter((c) => c.state === 'live').length;
  const leaderNote = input.isLeader
    ? ''
    : `<div class="note" id="follower-note">This master (${h(input.selfId)}) is not the leader. ${
        s.leaderId
          ? `The leader is <b>${h(s.leaderId)}</b> (${h(s.leaderAddress)})${input.leaderHttp ? ` — <a href="http://${h(input.leaderHttp)}/">open its status page</a>` : ''}.`
          : 'No leader is elected right now.'
      } Chunkservers, chunk health and the re-replication queue below are this master's own view (every chunkserver reports to every master); only the leader gives them commands.</div>`;

  const masters = s.masters
    .map(
      (m) => `<tr><td>${h(m.id)}${m.id === input.selfId ? ' <small>(this)</small>' : ''}</td><td>${h(m.address)}</td><td>${h(m.role)}</td>` +
        `<td>${m.term}</td><td>${m.commitIndex}</td><td>${m.appliedIndex}</td><td>${Math.max(0, (s.masters.find((x) => x.role === 'leader')?.commitIndex ?? m.commitIndex) - m.appliedIndex)}</td></tr>`,
    )
    .join('');

  const chunkservers = [...s.chunkservers]
    .sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }))
    .map((c) => {
      const pct = c.capacityBytes ? Math.min(100, (100 * (c.capacityBytes - c.freeBytes)) / c.capacityBytes) : 0;
      const stateClass = c.state === 'live' ? 'state-live' : c.state === 'dead' ? 'state-dead' : 'state-other';
      return `<tr data-chunkserver="${h(c.id)}" data-state="${h(c.state)}"><td>${h(c.id)}</td><td>${h(c.address)}</td><td>${h(c.rack || '–')}</td>` +
        `<td class="${stateClass}">${h(c.state)}</td><td><span class="bar"><i style="width:${pct.toFixed(1)}%"></i></span> ${pct.toFixed(0)}% of ${bytes(c.capacityBytes)}</td>` +
        `<td>${bytes(c.usedBytes)}</td><td>${c.chunkCount}</td><td>${ago(nowMs, c.lastHeartbeatMs)}</td><td>${c.inflightCopies}</td></tr>`;
    })
    .join('');

  const events = input.events.length
    ? input.events.map((e) => `<tr><td>${new Date(e.atMs).toISOString().slice(11, 19)}</td><td>${h(e.kind)}</td><td>${h(e.message)}</td></tr>`).join('')
    : '<tr><td colspan="3"><small>nothing yet</small></td></tr>';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="2"><title>dfs — ${h(health)}</title><style>${STYLE}</style></head>
<body>
<h1>dfs cluster <span class="health ${health.replace(/ /g, '-')}" id="health" data-health="${h(health)}">${h(health)}</span></h1>
${leaderNote}
<div class="kv"><span>leader <b>${h(s.leaderId || 'none')}</b></span><span>chunkservers <b>${live}/${s.chunkservers.length}</b> live</span>
<span>chunks <b>${s.totalChunks}</b></span><span>under-replicated <b id="under">${s.underReplicated}</b></span><span>missing <b id="missing">${s.missing}</b></span>
<span>corrupt <b id="corrupt">${s.corrupt}</b></span><span>re-replication queue <b>${s.replicationQueue}</b></span>${s.safeMode ? '<span><b>SAFE MODE</b></span>' : ''}</div>
<h2>Raft group</h2><div class="wrap"><table><tr><th>id</th><th>address</th><th>role</th><th>term</th><th>commit</th><th>applied</th><th>lag</th></tr>${masters}</table></div>
<h2>Chunkservers</h2><div class="wrap"><table id="chunkservers"><tr><th>id</th><th>address</th><th>rack</th><th>state</th><th>capacity</th><th>used</th><th>chunks</th><th>last heartbeat</th><th>copies</th></tr>${chunkservers}</table></div>
${snapshotSection(input.snapshots)}
${backupSection(input.backup, nowMs)}
<h2>Recent events</h2><div class="wrap"><table><tr><th>time (UTC)</th><th>event</th><th>detail</th></tr>${events}</table></div>
<p><small>${h(input.selfId)} · ${new Date(nowMs).toISOString()} · <a href="/status">JSON</a> · <a href="/metrics">metrics</a> · refreshes every 2 s</small></p>
</body></html>
`;
}
