// @dfs/telemetry: logs, metrics and the HTTP endpoint every dfs process serves.
export { createLogger, type Logger } from './logger.js';
export { Metrics } from './metrics.js';
export { instrumentService, requestIdOf, REQUEST_ID_KEY } from './instrument.js';
export { startHttp, type HttpEndpoint, type Route } from './http.js';
