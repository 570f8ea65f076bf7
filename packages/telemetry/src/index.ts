// @dfs/telemetry: logs, metrics and the HTTP endpoint every dfs process serves.
export { createLogger, type Logger } from './logger.js';
export { Metrics } from './metrics.js';
export { instrumentService, requestIdOf } from './instrument.js';
export { REQUEST_ID_KEY } from '@dfs/proto';
export { startHttp, httpListenAddress, type HttpEndpoint, type HttpOptions, type HttpTls, type Route } from './http.js';
export { markHop, hopTraceOn, type HopMark } from './hop-trace.js';
