import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

/** A snapshot for the status page and /metrics. */
export interface StatusSnapshot {
  id: string;
  address: string;
  rack: string;
  leader: string | null;
  registered: boolean;
  chunks: number;
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  activeWrites: number;
  inflightCopies: number;
  scrubber: { passes: number; chunksVerified: number; bytesVerified: number; corruptFound: number };
}

/** GET /status (JSON), /metrics (Prometheus text), /healthz. Read-only. */
export async function startHttpStatus(listen: string, snapshot: () => Promise<StatusSnapshot>, log: Logger): Promise<{ server: Server; address: string }> {
  const { host, port } = splitHostPort(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path !== '/status' && path !== '/metrics' && path !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    snapshot().then(
      (s) => {
        if (path === '/metrics') res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics(s));
        else res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(s, null, 2)}\n`);
      },
      (err: unknown) => {
        log.warn({ err: String(err) }, 'status page failed');
        res.writeHead(500).end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return { server, address: `${host}:${addr.port}` };
}

function metrics(s: StatusSnapshot): string {
  const labels = `{node="${s.id}"}`;
  const lines: Array<[string, number]> = [
    ['dfs_chunkserver_chunks', s.chunks],
    ['dfs_chunkserver_capacity_bytes', s.capacityBytes],
    ['dfs_chunkserver_free_bytes', s.freeBytes],
    ['dfs_chunkserver_used_bytes', s.usedBytes],
    ['dfs_chunkserver_active_writes', s.activeWrites],
    ['dfs_chunkserver_inflight_copies', s.inflightCopies],
    ['dfs_chunkserver_registered', s.registered ? 1 : 0],
    ['dfs_chunkserver_scrub_passes_total', s.scrubber.passes],
    ['dfs_chunkserver_scrub_bytes_total', s.scrubber.bytesVerified],
    ['dfs_chunkserver_scrub_corrupt_total', s.scrubber.corruptFound],
  ];
  return lines.map(([name, v]) => `${name}${labels} ${v}`).join('\n') + '\n';
}

/** Splits "host:port" / "[v6]:port"; port 0 means ephemeral. */
export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`invalid listen address ${JSON.stringify(text)} (want host:port)`);
  return { host: (m[1] ?? m[2])!, port };
}
