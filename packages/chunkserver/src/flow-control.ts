import type { Server } from '@grpc/grpc-js';
import type { Logger } from '@dfs/telemetry';

/*
 * HTTP/2 flow control on the data path. A grpc-js server advertises the HTTP/2 default
 * receive window (65,535 bytes per stream and per connection), smaller than one 64 KiB data
 * frame plus framing: each WriteChunk hop then runs stop-and-wait on WINDOW_UPDATEs and the
 * pipeline is latency-bound (measured: chunkservers ~70% idle at ~55 MB/s cluster put).
 * grpc-js has a client option for this ('grpc-node.flow_control_window') but none for servers,
 * so once the server is bound we widen the window on every new session: the per-stream
 * initial window via SETTINGS and the connection window via WINDOW_UPDATE.
 * Memory stays bounded: a stream's handler pauses reading after a few frames, so at most
 * `windowBytes` per stream sit in HTTP/2 buffers.
 *
 * This reaches into grpc-js internals (the private `http2Servers` map); if they change, it
 * logs once and the server keeps working with the default windows.
 */

interface Http2Session {
  settings(s: { initialWindowSize: number }): void;
  setLocalWindowSize?(size: number): void;
  once(ev: 'remoteSettings' | 'connect', fn: () => void): void;
}
interface Http2ServerLike {
  on(ev: 'session', fn: (s: Http2Session) => void): void;
}

export function widenServerFlowControl(server: Server, windowBytes: number, log: Logger): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2ServerLike, unknown> }).http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) {
    log.warn('cannot widen HTTP/2 flow-control windows (grpc-js internals changed); write throughput will be lower');
    return;
  }
  for (const h2 of servers.keys()) {
    h2.on('session', (session) => {
      try {
        session.settings({ initialWindowSize: windowBytes });
        session.setLocalWindowSize?.(windowBytes * 4);
      } catch (err) {
        log.debug({ err: String(err) }, 'could not widen flow-control window');
      }
    });
  }
}

/** Channel option that widens a client's receive window (reads, copies). */
export const CLIENT_FLOW_CONTROL_WINDOW = { 'grpc-node.flow_control_window': 1024 * 1024 };
