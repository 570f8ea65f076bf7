import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON lines to stderr, every line tagged with the node id (pino). */
export function createLogger(node: string, level = process.env.DFS_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { node, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: 2, sync: false }));
}
