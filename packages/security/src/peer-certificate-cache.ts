import type { PeerCertificate } from 'node:tls';

/*
 * The verified peer of a TLS connection, read once per connection instead of once per call.
 * grpc-js (1.14) answers every server call's getAuthContext() with a fresh
 * `socket.getPeerCertificate()`: Node rebuilds the whole certificate object (subject, issuer,
 * three fingerprints, public key), ~33 µs here, on every call — every chunk read and write,
 * every master RPC. The answer cannot change within a connection: TLS 1.3 (the only version dfs
 * speaks) has no renegotiation, so the certificate verified in the handshake is the peer for
 * the connection's life, and a credential reload only affects new connections.
 *
 * So the answer is kept per HTTP/2 session (one TLS connection) in a WeakMap: nothing a client
 * sends can choose the key, the entry dies with the connection, and only an authenticated TLS
 * answer is kept (a plaintext call asks again; it is cheap). The entry is frozen so no handler
 * can change what the next call on the connection sees.
 *
 * Like `installPreframedMessages` this wraps a grpc-js internal (BaseServerInterceptingCall's
 * getAuthContext); when it changes, `installPeerCertificateCache` returns false and every call
 * reads the certificate as before.
 */

interface AuthContext {
  transportSecurityType?: string;
  sslPeerCertificate?: PeerCertificate;
}

interface ServerCallInternals {
  stream?: { session?: object };
  getAuthContext(): AuthContext;
}

const bySession = new WeakMap<object, AuthContext>();
let installed: boolean | undefined;

/** Makes every grpc-js server in this process read a connection's peer certificate once. Idempotent. */
export function installPeerCertificateCache(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  try {
    const mod = require('@grpc/grpc-js/build/src/server-interceptors.js') as { BaseServerInterceptingCall?: { prototype: ServerCallInternals } };
    const proto = mod.BaseServerInterceptingCall?.prototype;
    if (!proto || typeof proto.getAuthContext !== 'function') return false;
    const original = proto.getAuthContext;
    proto.getAuthContext = function (this: ServerCallInternals): AuthContext {
      const session = this.stream?.session;
      if (session === undefined || session === null) return original.call(this);
      const known = bySession.get(session);
      if (known) return known;
      const auth = original.call(this);
      if (auth?.transportSecurityType !== 'ssl') return auth;
      if (auth.sslPeerCertificate) Object.freeze(auth.sslPeerCertificate);
      bySession.set(session, Object.freeze(auth));
      return auth;
    };
    installed = true;
  } catch {
    installed = false;
  }
  return installed;
}
