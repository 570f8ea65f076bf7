// @dfs/chunkserver — the public surface is this list; everything else is internal.
// First: sizes libuv's thread pool before any disk operation starts it (see threadpool.ts).
import './threadpool.js';
export { startChunkserver, type ChunkserverOptions, type RunningChunkserver } from './chunkserver.js';
export { NOOP_FAULT_INJECTOR, FAULT_ENV, faultInjectorFromEnv, type ChunkserverFaultInjector, type EnvFaultRules } from './fault-injector.js';
export { parseChunkId } from './chunk-id.js';
export { FAILED_CHUNKSERVER_KEY } from './pipeline-error.js';
