import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { splitHostPort } from '@dfs/proto';
import type { Metrics } from './metrics.js';

export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpEndpoint {
  server: Server;
  address: string;
  close(): Promise<void>;
}

/** A certificate and key to serve HTTPS with; `subscribe` hears re-issued ones (no restart). */
export interface HttpTls {
  cert: Buffer;
  key: Buffer;
  subscribe?(update: (c: { cert: Buffer; key: Buffer }) => void): void;
}

export interface HttpOptions {
  /** Serve HTTPS (TLS 1.3) instead of plain HTTP. */
  tls?: HttpTls;
}

/** `--http 9000` or `--http :9000` bind loopback: the status page is local unless a host is named. */
export function httpListenAddress(listen: string): string {
  if (/^\d{1,5}$/.test(listen)) return `127.0.0.1:${listen}`;
  if (/^:\d{1,5}$/.test(listen)) return `127.0.0.1${listen}`;
  return listen;
}

/**
 * The HTTP side of every process: /metrics (Prometheus text), /healthz, and the
 * routes the process adds (status page, JSON status). Read-only by construction: any
 * method but GET and HEAD is refused, so no page can offer an action.
 */
export function startHttp(listen: string, metrics: Metrics, routes: Record<string, Route> = {}, options: HttpOptions = {}): Promise<HttpEndpoint> {
  const { host, port: wanted } = splitHostPort(httpListenAddress(listen));
  const handler: RequestListener = (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('read-only: GET only\n');
      return;
    }
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
  };
  let server: Server;
  if (options.tls) {
    const https = createHttpsServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.3' }, handler);
    options.tls.subscribe?.((c) => https.setSecureContext({ cert: c.cert, key: c.key, minVersion: 'TLSv1.3' }));
    server = https as unknown as Server;
  } else {
    server = createServer(handler);
  }
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
