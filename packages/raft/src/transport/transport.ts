import type { Message } from '../core/types.js';

/*
 * How the driver talks to its peers (hashicorp's Transport). Delivery is best effort:
 * Raft tolerates loss, duplication and reordering; the transport only has to report
 * what it knows failed.
 */
export interface TransportHandler {
  /**
   * A message arrived; `authenticatedPeer` is the sender's id from its certificate, when the
   * transport knows it. Returns why it was refused (the transport ends that sender's stream).
   */
  onMessage(m: Message, authenticatedPeer?: string): { reason: string; detail: string } | undefined;
  /**
   * Whether a snapshot's header may be received at all (well formed, for us, from a member):
   * asked before a byte of it is written. The reason when not.
   */
  admitSnapshot(m: Message, authenticatedPeer?: string): string | undefined;
  /** Something arrived that could not be taken (undecodable, too big): counted, never fatal. */
  onRefused(reason: 'malformed' | 'oversized-snapshot' | 'stranger', detail: string): void;
  /** A snapshot arrived, verified and fsynced at `path`; `m` is its Snapshot message. */
  onSnapshot(m: Message, path: string): void;
  /** A snapshot we sent was installed (ok) or failed. */
  onSnapshotSent(to: string, ok: boolean): void;
  /** A peer could not be reached. */
  onUnreachable(to: string): void;
}

export interface Transport {
  setPeer(id: string, address: string): void;
  removePeer(id: string): void;
  /** Sends messages (not snapshots), batched per peer. */
  send(messages: readonly Message[]): void;
  /** Streams the snapshot file at `path` with its Snapshot message. */
  sendSnapshot(m: Message, path: string): void;
  close(): void;
}
