/**
 * What raft logs through: structured fields, then a message (pino's shape). The process
 * hands in its @dfs/telemetry logger; raft itself depends on no logging library.
 */
export interface Logger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  debug(fields: Record<string, unknown>, msg: string): void;
}

export const noopLogger: Logger = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
