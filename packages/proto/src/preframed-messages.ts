/*
 * Server messages sent without grpc-js's framing copy. grpc-js (1.14) sends every server message
 * by allocating (5 + length) bytes and copying the serialized message behind the 5-byte gRPC
 * prefix: for ReadChunk that is a second 1 MiB buffer and a 1 MiB copy per MiB served, beside
 * the disk buffer the message already lives in. A message marked by `preframe` has room in front
 * of it in its own buffer (READ_HEADROOM), so the prefix is written there and the bytes go out
 * as they were read from disk. Unmarked messages take grpc-js's own path.
 *
 * Like `widenServerWindows` this reaches into grpc-js internals (BaseServerInterceptingCall's
 * serializeMessage); `installPreframedMessages` returns false when they change, and the server
 * keeps working with the copy.
 */

const GRPC_PREFIX = 5;
const marked = new WeakSet<Buffer>();
let installed: boolean | undefined;

/**
 * Marks a serialized message whose buffer has at least 5 spare bytes in front of it that nobody
 * else uses. Returns the message (pass it to `call.write`).
 */
export function preframe(message: Buffer): Buffer {
  if (installed && message.byteOffset >= GRPC_PREFIX) marked.add(message);
  return message;
}

/** The message with its gRPC prefix (uncompressed, big-endian length) written into the room in front of it. */
export function withGrpcPrefix(message: Buffer): Buffer {
  const framed = Buffer.from(message.buffer, message.byteOffset - GRPC_PREFIX, message.length + GRPC_PREFIX);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  return framed;
}

interface SerializingCall {
  serializeMessage(value: unknown): Buffer;
}

/** Makes grpc-js servers in this process send `preframe`d messages in place. Idempotent. */
export function installPreframedMessages(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  try {
    const mod = require('@grpc/grpc-js/build/src/server-interceptors.js') as { BaseServerInterceptingCall?: { prototype: SerializingCall } };
    const proto = mod.BaseServerInterceptingCall?.prototype;
    if (!proto || typeof proto.serializeMessage !== 'function') return false;
    const original = proto.serializeMessage;
    proto.serializeMessage = function (this: SerializingCall, value: unknown): Buffer {
      if (Buffer.isBuffer(value) && marked.has(value)) return withGrpcPrefix(value);
      return original.call(this, value);
    };
    installed = true;
  } catch {
    installed = false;
  }
  return installed;
}
