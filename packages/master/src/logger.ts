import pino from 'pino';

export type Logger = pino.Logger;

/** JSON lines on stderr, every line tagged with the node id. */
export function createLogger(node: string, level = 'info'): Logger {
  return pino({ level, base: { node }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}
