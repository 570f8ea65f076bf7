/*
 * Test hooks in the style of HDFS's DataNodeFaultInjector: production code calls these at
 * fixed points; the default does nothing. A test passes an object implementing only the
 * hooks it needs, to drop, delay or corrupt one write or read without patching code paths.
 * A hook that throws fails the operation it sits in, exactly as a real fault would.
 */
export interface ChunkserverFaultInjector {
  /** Before a data frame is written to the local replica (offset = its offset in the chunk). */
  beforeWriteFrame?(handle: number, offset: number): void | Promise<void>;
  /** Before a data frame is forwarded to the next chunkserver in the chain. */
  beforeForward?(handle: number, offset: number, downstreamId: string): void | Promise<void>;
  /** After the last frame is written locally, before the bytes are made durable and committed (concurrently with the downstream ack). */
  beforeCommit?(handle: number): void | Promise<void>;
  /**
   * Sees every block read from disk (reads, copies served, scrubber) before it is verified;
   * may flip bytes in `data` in place to simulate on-disk corruption.
   */
  corruptReadBlock?(handle: number, blockOffset: number, data: Buffer): void;
  /** Before each heartbeat or registration is sent; throwing drops it. */
  beforeHeartbeat?(): void | Promise<void>;
  /** Before a replica is pulled from another chunkserver (re-replication). */
  beforeCopy?(handle: number, sourceId: string): void | Promise<void>;
}

/** The no-op default. */
export const NOOP_FAULT_INJECTOR: ChunkserverFaultInjector = Object.freeze({});

/**
 * Cross-process tests switch faults on through the environment, read once at start-up:
 * `DFS_FAULT_INJECT='{"c2": {"delayFrameMs": 2}, "*": {...}}'` (keys are chunkserver ids, `*`
 * any). Unset (production) gives the no-op injector. Rules:
 * - `delayFrameMs`: sleep before writing each data frame (slows a pipeline without CPU);
 * - `stallAfterBytes`: once a write reaches this offset, hang it (a stalled replica);
 * - `failAfterBytes`: once a write reaches this offset, fail it (once per process);
 * - `corruptReads`: flip a byte in every block read from disk.
 */
export interface EnvFaultRules {
  delayFrameMs?: number;
  stallAfterBytes?: number;
  failAfterBytes?: number;
  corruptReads?: boolean;
}

export const FAULT_ENV = 'DFS_FAULT_INJECT';

export function faultInjectorFromEnv(selfId: string, env: NodeJS.ProcessEnv = process.env): ChunkserverFaultInjector | undefined {
  const text = env[FAULT_ENV];
  if (!text) return undefined;
  let all: Record<string, EnvFaultRules>;
  try {
    all = JSON.parse(text) as Record<string, EnvFaultRules>;
  } catch {
    return undefined;
  }
  const rules = all[selfId] ?? all['*'];
  if (!rules || typeof rules !== 'object') return undefined;
  let failed = false;
  const fi: ChunkserverFaultInjector = {
    async beforeWriteFrame(_handle, offset) {
      if (rules.delayFrameMs) await new Promise((r) => setTimeout(r, rules.delayFrameMs));
      if (rules.stallAfterBytes !== undefined && offset >= rules.stallAfterBytes) await new Promise(() => undefined);
      if (rules.failAfterBytes !== undefined && offset >= rules.failAfterBytes && !failed) {
        failed = true;
        throw new Error(`injected write failure at offset ${offset}`);
      }
    },
  };
  if (rules.corruptReads) fi.corruptReadBlock = (_h, _o, data) => void (data.length > 0 && (data[0] = data[0]! ^ 0xff));
  return fi;
}
