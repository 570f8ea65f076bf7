import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The lowest port a free port is drawn from (below it: well-known and registered services). */
const LOWEST_PORT = 10_000;

/** The kernel's ephemeral range: outgoing connections take their source ports from it. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux: the IANA range
  }
  return [49152, 65535];
}

/** Binds `port` on `host` and releases it: 0 asks the OS for any; resolves the port bound, or 0 if it was taken. */
function tryBind(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(0) : reject(err)));
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

/**
 * A free loopback port for a server that binds it a little later, and again after a restart.
 * Drawn from below the kernel's ephemeral range: a port the OS hands out for bind(0) is also
 * what it gives the next outgoing connection, which then takes it before the server starts
 * (EADDRINUSE), or while a killed node is down.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [low] = ephemeralRange();
  if (low - LOWEST_PORT >= 1000) {
    for (let attempt = 0; attempt < 200; attempt++) {
      const port = await tryBind(LOWEST_PORT + randomInt(low - LOWEST_PORT), host);
      if (port !== 0) return port;
    }
  }
  return tryBind(0, host);
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}
