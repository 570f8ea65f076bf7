import type { ChannelOptions, Server } from '@grpc/grpc-js';

/*
 * HTTP/2 flow control on the data path. Both ends of a gRPC stream advertise the HTTP/2
 * default receive window (65,535 bytes per stream and per connection) unless told otherwise:
 * smaller than one 64 KiB data frame plus framing, so each hop runs stop-and-wait on
 * WINDOW_UPDATEs and the data path is latency-bound, not bandwidth-bound (measured: a bare
 * grpc-js download 336 MB/s at the default window, ~745 MB/s at 64 MiB).
 *
 * - Client channels: grpc-js's 'grpc-node.flow_control_window' sets both the per-stream and the
 *   connection receive window (reads, copies).
 * - Servers: grpc-js 1.14 has no such option (grpc-node pull request 3058 adds one), so once
 *   the server is bound we widen the window on every new session: the per-stream initial
 *   window via SETTINGS and the connection window via `setLocalWindowSize`. This reaches into
 *   grpc-js internals (the private `http2Servers` map); if they change, the caller is told and
 *   the server keeps working with the default windows.
 *
 * Memory stays bounded: a write handler pauses reading after a few queued frames and a
 * ReadChunk stream carries one bounded piece, so a window is an upper bound, not a buffer that
 * is always full.
 */

/*
 * How wide: enough for the bandwidth × delay of a loopback hop with a busy event loop (~500 MB/s
 * × a few ms), and no wider. A connection's keepalive PING waits behind whatever the window let
 * into the connection: with 64 MiB windows a receiver starved of CPU (load average 40 on this box)
 * took longer than the 5 s keepalive timeout to reach it, and grpc-js dropped the connection
 * mid-put. 16 MiB per connection keeps that under ~1.5 s even at 10 MB/s.
 */
/** Receive window of a client channel on the data path (per stream and per connection). */
export const DATA_CHANNEL_WINDOW = 16 * 1024 * 1024;
/** Per-stream receive window a chunkserver advertises for WriteChunk streams. */
export const DATA_STREAM_WINDOW = 4 * 1024 * 1024;
/** Connection receive window a chunkserver advertises (several chunk streams share it). */
export const DATA_SESSION_WINDOW = 16 * 1024 * 1024;

/** Channel options that widen a client's receive window, merged over `channelOptions()`. */
export function dataChannelOptions(window = DATA_CHANNEL_WINDOW): ChannelOptions {
  return { 'grpc-node.flow_control_window': window };
}

interface Http2Session {
  settings(s: { initialWindowSize: number }): void;
  setLocalWindowSize?(size: number): void;
}
interface Http2ServerLike {
  on(ev: 'session', fn: (s: Http2Session) => void): void;
}

/**
 * Widens the receive windows of every future session of a bound server. Returns false when
 * grpc-js's internals no longer allow it (the caller logs; throughput is lower, nothing breaks).
 */
export function widenServerWindows(server: Server, streamWindow = DATA_STREAM_WINDOW, sessionWindow = DATA_SESSION_WINDOW): boolean {
  const servers = (server as unknown as { http2Servers?: Map<Http2ServerLike, unknown> }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  for (const h2 of servers.keys()) {
    h2.on('session', (session) => {
      try {
        session.settings({ initialWindowSize: streamWindow });
        session.setLocalWindowSize?.(sessionWindow);
      } catch {
        // A session closing as it opens: nothing to widen.
      }
    });
  }
  return true;
}
