import type { Server } from 'node:http';
import { startHttp, type HttpTls, type Metrics } from '@dfs/telemetry';
import type { Master } from './master.js';
import type { EventLog } from './observability/events.js';
import { renderStatusPage, type BackupSummary } from './observability/status-page.js';
import type { MetadataBackups } from './backup/backups.js';

export interface HttpStatusContext {
  master: Master;
  metrics: Metrics;
  events: EventLog;
  /** Peers' HTTP addresses by id, so a follower's page can link to the leader's. */
  peerHttp: Record<string, string>;
  backups?: MetadataBackups;
}

function backupSummary(ctx: HttpStatusContext): BackupSummary {
  const last = ctx.backups?.last();
  const clusterId = ctx.master.clusterId();
  return {
    ...(clusterId ? { clusterId } : {}),
    ...(last ? { last: { createdAt: last.header.createdAt, appliedIndex: last.header.appliedIndex, bytes: last.header.bytes, to: last.to } } : {}),
    setAside: ctx.master.setAside.count(),
  };
}

/** GET / (status page), /status (JSON), /metrics (Prometheus), /healthz. */
export async function startHttpStatus(listen: string, ctx: HttpStatusContext, tls?: HttpTls): Promise<{ server: Server; address: string }> {
  const { master } = ctx;
  const endpoint = await startHttp(listen, ctx.metrics, {
    '/': (_req, res) => {
      const status = master.localClusterStatus();
      const html = renderStatusPage({
        selfId: master.config.id,
        isLeader: master.isLeader(),
        status,
        events: ctx.events.recent(),
        leaderHttp: status.leaderId ? ctx.peerHttp[status.leaderId] : undefined,
        nowMs: Date.now(),
        backup: backupSummary(ctx),
        snapshots: master.snapshotList(),
      });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    },
    '/status': (_req, res) => {
      const body = JSON.stringify({ ...master.localClusterStatus(), isLeader: master.isLeader(), safeModeDetail: master.safeMode.status(), events: ctx.events.recent(), backup: backupSummary(ctx), snapshots: master.snapshotList() });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body + '\n');
    },
  }, tls ? { tls } : {});
  return { server: endpoint.server, address: endpoint.address };
}
