import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { splitHostPort } from '@dfs/proto';
import type { Metrics } from './metrics.js';

export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpEndpoint {
  server: Server;
  address: string;
  close(): Promise<void>;
}

/**
 * The HTTP side of every process: /metrics (Prometheus text), /healthz, and the
 * routes the process adds (status page, JSON status).
 */
export function startHttp(listen: string, metrics: Metrics, routes: Record<string, Route> = {}): Promise<HttpEndpoint> {
  const { host, port: wanted } = splitHostPort(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = routes[path];
    const run = async (): Promise<void> => {
      if (path === '/metrics') {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(await metrics.text());
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
      } else if (route) {
        await route(req, res);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      }
    };
    run().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`error: ${(err as Error).message}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(wanted, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : wanted;
      resolve({
        server,
        address: `${host}:${port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
