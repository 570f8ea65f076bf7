import pino, { type Logger } from 'pino';
import { DfsError, ErrorCode } from '@dfs/proto';

export type { Logger };

/**
 * The logger of every dfs process: JSON lines on stderr (pino), each tagged with the node
 * id and pid. Level from the caller, else DFS_LOG_LEVEL, else info; 'silent' for tests.
 */
export function createLogger(node: string, level = process.env.DFS_LOG_LEVEL ?? 'info'): Logger {
  if (level !== 'silent' && !(level in pino.levels.values)) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `unknown log level ${JSON.stringify(level)} (${Object.keys(pino.levels.values).join('|')}|silent)`);
  }
  // Synchronous writes: the last lines before a crash or SIGKILL are what an operator needs.
  const dest = pino.destination({ dest: 2, sync: true });
  // A closed stderr (a detached mount whose terminal went away) must not take the process down.
  dest.on('error', () => undefined);
  return pino({ level, base: { node, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}
