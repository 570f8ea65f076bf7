import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Master } from './master.js';

/** GET /healthz → "ok"; GET /status → ClusterStatus as JSON. */
export async function startHttpStatus(listen: string, master: Master): Promise<{ server: Server; address: string }> {
  const { host, port } = splitHostPort(listen);
  const server = createServer((req, res) => {
    try {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (req.method === 'GET' && url === '/status') {
        const body = JSON.stringify({ ...master.clusterStatus(), isLeader: master.isLeader(), safeModeDetail: master.safeMode.status() });
        res.writeHead(200, { 'content-type': 'application/json' }).end(body + '\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  return { server, address: `${host}:${a.port}` };
}

export function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  if (i < 0) throw new Error(`expected host:port, got ${JSON.stringify(hp)}`);
  const port = Number(hp.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port in ${JSON.stringify(hp)}`);
  return { host: hp.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1', port };
}
