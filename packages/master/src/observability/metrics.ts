import { Metrics } from '@dfs/telemetry';
import type { CommandLog } from '../command-log.js';
import type { Master } from '../master.js';

/** Registers the master's gauges; each reads live state when /metrics is scraped. */
export function createMasterMetrics(id: string, master: Master, log: CommandLog): Metrics {
  const m = new Metrics('master', id);
  const raft = (): ReturnType<CommandLog['status']> => log.status();
  m.gauge('dfs_raft_term', 'current Raft term', [], (g) => g.set(raft().term));
  m.gauge('dfs_raft_commit_index', 'Raft commit index', [], (g) => g.set(raft().commitIndex));
  m.gauge('dfs_raft_applied_index', 'last Raft entry applied to the metadata database', [], (g) => g.set(raft().appliedIndex));
  m.gauge('dfs_raft_is_leader', '1 on the leader', [], (g) => g.set(log.isLeader() ? 1 : 0));
  const cluster = (): ReturnType<Master['clusterStatus']> | undefined => {
    // A follower redirects ClusterStatus; only the leader has chunk and node health.
    try {
      return log.isLeader() ? master.clusterStatus() : undefined;
    } catch {
      return undefined;
    }
  };
  m.gauge('dfs_chunks', 'chunks by health (leader only)', ['state'], (g) => {
    const s = cluster();
    if (!s) return;
    g.set({ state: 'total' }, s.totalChunks);
    g.set({ state: 'under_replicated' }, s.underReplicated);
    g.set({ state: 'missing' }, s.missing);
    g.set({ state: 'corrupt' }, s.corrupt);
  });
  m.gauge('dfs_replication_queue_length', 're-replication queue length (leader only)', [], (g) => {
    const s = cluster();
    if (s) g.set(s.replicationQueue);
  });
  m.gauge('dfs_chunkservers', 'chunkservers by state (leader only)', ['state'], (g) => {
    const s = cluster();
    if (!s) return;
    g.reset();
    for (const c of s.chunkservers) g.inc({ state: c.state });
  });
  m.gauge('dfs_cluster_capacity_bytes', 'capacity of live chunkservers (leader only)', ['kind'], (g) => {
    const s = cluster();
    if (!s) return;
    const live = s.chunkservers.filter((c) => c.state === 'live');
    g.set({ kind: 'capacity' }, live.reduce((n, c) => n + c.capacityBytes, 0));
    g.set({ kind: 'used' }, live.reduce((n, c) => n + c.usedBytes, 0));
    g.set({ kind: 'free' }, live.reduce((n, c) => n + c.freeBytes, 0));
  });
  m.counterFromTotal('dfs_raft_proposals_committed_total', 'commands this master proposed that committed and applied', () =>
    (log as { committedProposals?: number }).committedProposals ?? 0);
  m.countersFromTotals('dfs_raft_refused_total', 'Raft messages and snapshots refused (stranger, impostor, malformed, oversized-snapshot, …)', 'reason', () =>
    (log as { raftRefusals?: () => Record<string, number> }).raftRefusals?.() ?? {});
  m.counterFromTotal('dfs_replication_copies_done_total', 're-replication copies completed while this master led', () =>
    master.replication.stats().copiesDone);
  return m;
}
