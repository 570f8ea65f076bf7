/** JSON lines on stderr, like every dfs process (pino's shape: level, time, msg). */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

const LEVELS = { info: 30, warn: 40, error: 50 } as const;

export function createLogger(name: string, write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const emit = (level: keyof typeof LEVELS, msg: string, fields?: Record<string, unknown>): void => {
    try {
      write(`${JSON.stringify({ level: LEVELS[level], time: Date.now(), name, pid: process.pid, msg, ...fields })}\n`);
    } catch {
      /* a closed stderr must not take the mount down */
    }
  };
  return {
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
