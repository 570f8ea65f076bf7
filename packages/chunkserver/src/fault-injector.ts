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
  /** After local bytes are durable and downstream acked, before the new state is committed. */
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
