import type { ChannelOptions } from '@grpc/grpc-js';
import { MAX_MESSAGE_BYTES } from './limits.js';

/*
 * The options every gRPC server and channel is built with. Their credentials (mutual TLS,
 * or plaintext with --insecure) come from @dfs/security's serverCredentials/channelCredentials.
 */

/** Options for every server: size limits on every message. */
export function serverOptions(): ChannelOptions {
  return {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.keepalive_permit_without_calls': 1,
  };
}

/** Options for every client channel. */
export function channelOptions(): ChannelOptions {
  return {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    // Fail fast on a dead peer instead of waiting for the OS reconnect backoff.
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    // The default 64 KiB HTTP/2 window is smaller than one data frame: every frame would
    // wait a round trip for a window update.
    'grpc-node.flow_control_window': 1024 * 1024,
  };
}
