import { checkServerIdentity, type PeerCertificate, type SecureContextOptions } from 'node:tls';
import { resolve } from 'node:path';
import { ChannelCredentials, ServerCredentials, experimental } from '@grpc/grpc-js';
import { DfsError, ErrorCode } from '@dfs/proto';
import { CertificateSource } from './certificate-source.js';
import { identityOfCertificate, identityUri } from './identity.js';
import { installPeerCertificateCache } from './peer-certificate-cache.js';

/*
 * The one place every gRPC server and channel of dfs gets its credentials. A process runs
 * either with mutual TLS from a credentials directory (the default everywhere) or, only
 * when told `--insecure`, in plaintext.
 *
 * TLS: version 1.3 only, the peer must present a certificate signed by a CA in ca.crt
 * (servers require client certificates), and a client accepts a server only when its
 * certificate names the address dialled and a node role (master or chunkserver), so a
 * user's certificate cannot pose as a node.
 */
export type Security = { readonly insecure: true } | { readonly insecure: false; readonly dir: string };

export const INSECURE: Security = Object.freeze({ insecure: true });

export function tlsFrom(dir: string): Security {
  return { insecure: false, dir: resolve(dir) };
}

export function describeSecurity(s: Security): string {
  return s.insecure ? 'plaintext (--insecure)' : `mTLS (${s.dir})`;
}

/** One source per directory per process: every channel and server shares it and its reloads. */
const sources = new Map<string, CertificateSource>();
let reloadWatch: { intervalMs: number; log: (err: Error | undefined, dir: string) => void } | undefined;

export function certificateSource(dir: string): CertificateSource {
  const key = resolve(dir);
  let source = sources.get(key);
  if (!source) {
    source = new CertificateSource(key);
    sources.set(key, source);
    if (reloadWatch) {
      const w = reloadWatch;
      source.watch(w.intervalMs, (err) => w.log(err, key));
    }
  }
  return source;
}

/**
 * Long-running processes: re-read every credentials directory on SIGHUP and whenever its
 * files change (polled every `intervalMs`), without a restart. `log` hears each reload
 * (err undefined) and each rejected new set.
 */
export function enableCredentialReload(log: (err: Error | undefined, dir: string) => void, intervalMs = 1000): void {
  reloadWatch = { intervalMs, log };
  for (const [dir, source] of sources) source.watch(intervalMs, (err) => log(err, dir));
  process.on('SIGHUP', () => {
    for (const [dir, source] of sources) {
      try {
        if (source.reload()) log(undefined, dir);
      } catch (err) {
        log(err as Error, dir);
      }
    }
  });
}

/** Reloads one credentials directory now (what SIGHUP does for each); throws when its new set is unusable. */
export function reloadCredentials(dir: string): boolean {
  return certificateSource(dir).reload();
}

/*
 * TLS 1.3 only. Of its suites the server prefers AES-128-GCM (the one every TLS 1.3 peer must
 * implement, and the cheapest per byte with AES-NI): every chunk byte is encrypted and
 * decrypted once per pipeline hop.
 */
const TLS13: Pick<SecureContextOptions, 'minVersion' | 'ciphers' | 'honorCipherOrder'> = {
  minVersion: 'TLSv1.3',
  ciphers: 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
  honorCipherOrder: true,
};

/** grpc-js server credentials fed by a CertificateSource: TLS 1.3, client certificates required. */
class MutualTlsServerCredentials extends ServerCredentials {
  private readonly onCa = (u: experimental.CaCertificateUpdate | null): void => {
    if (u) this.ca = u.caCertificate;
    this.push();
  };
  private readonly onIdentity = (u: experimental.IdentityCertificateUpdate | null): void => {
    if (u) this.identity = u;
    this.push();
  };
  private ca: Buffer;
  private identity: experimental.IdentityCertificateUpdate;

  constructor(private readonly source: CertificateSource) {
    const c = source.credentials;
    super({ requestCert: true, rejectUnauthorized: true, ...TLS13 }, { ca: c.ca, cert: c.cert, key: c.key, ...TLS13 });
    this.ca = c.ca;
    this.identity = { certificate: c.cert, privateKey: c.key };
  }

  private push(): void {
    this.updateSecureContextOptions({ ca: this.ca, cert: this.identity.certificate, key: this.identity.privateKey, ...TLS13 });
  }

  override _addWatcher(watcher: Parameters<ServerCredentials['_addWatcher']>[0]): void {
    if (this.getWatcherCount() === 0) {
      this.source.addCaCertificateListener(this.onCa);
      this.source.addIdentityCertificateListener(this.onIdentity);
    }
    super._addWatcher(watcher);
  }

  override _removeWatcher(watcher: Parameters<ServerCredentials['_removeWatcher']>[0]): void {
    super._removeWatcher(watcher);
    if (this.getWatcherCount() === 0) {
      this.source.removeCaCertificateListener(this.onCa);
      this.source.removeIdentityCertificateListener(this.onIdentity);
    }
  }

  _equals(other: ServerCredentials): boolean {
    return other instanceof MutualTlsServerCredentials && other.source === this.source;
  }
}

export function serverCredentials(security: Security): ServerCredentials {
  if (security.insecure) return ServerCredentials.createInsecure();
  // Each call's caller is read from its connection's certificate, parsed once per connection.
  installPeerCertificateCache();
  return new MutualTlsServerCredentials(certificateSource(security.dir));
}

/** A server is accepted when its certificate names the host dialled and a node identity. */
function checkNodeServer(host: string, cert: PeerCertificate): Error | undefined {
  const hostError = checkServerIdentity(host, cert);
  if (hostError) return hostError;
  const id = identityOfCertificate(cert);
  if (!id || (id.role !== 'master' && id.role !== 'chunkserver')) {
    return new Error(`${host}: the server's certificate is not a dfs node's (${id ? identityUri(id) : 'no dfs identity'})`);
  }
  return undefined;
}

const channelCache = new Map<string, ChannelCredentials>();

/*
 * grpc-js sets the TLS servername to the host dialled, and dfs dials IP addresses, which
 * Node answers with a DEP0123 warning on stderr of every process (one per process, but it
 * garbles the CLI's one-line errors). SNI is meaningless here; only that warning is dropped.
 */
let sniWarningMuted = false;
function muteIpServernameWarning(): void {
  if (sniWarningMuted) return;
  sniWarningMuted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    if (args[2] === 'DEP0123' || (typeof args[1] === 'object' && (args[1] as { code?: string } | null)?.code === 'DEP0123')) return;
    emit(...args);
  }) as typeof process.emitWarning;
}

export function channelCredentials(security: Security): ChannelCredentials {
  if (security.insecure) return ChannelCredentials.createInsecure();
  muteIpServernameWarning();
  const key = resolve(security.dir);
  let creds = channelCache.get(key);
  if (!creds) {
    const source = certificateSource(security.dir);
    creds = experimental.createCertificateProviderChannelCredentials(source, source, { checkServerIdentity: checkNodeServer });
    channelCache.set(key, creds);
  }
  return creds;
}

/** The node's own certificate for its HTTPS status page (`--http-tls`), following reloads. */
export function httpTls(security: Security): { cert: Buffer; key: Buffer; subscribe(update: (c: { cert: Buffer; key: Buffer }) => void): void } {
  if (security.insecure) throw new DfsError(ErrorCode.INVALID_ARGUMENT, '--http-tls needs the node\'s TLS credentials, not --insecure');
  const source = certificateSource(security.dir);
  const { cert, key } = source.credentials;
  return {
    cert,
    key,
    subscribe: (update) => source.addIdentityCertificateListener((u) => u && update({ cert: u.certificate, key: u.privateKey })),
  };
}

/** Why a TLS server refused a connection, in words (a plaintext client is named as such). */
export function describeHandshakeFailure(err: Error & { code?: string }): string {
  if (/wrong version number|http request|packet length too long/i.test(err.message) || err.code === 'ERR_SSL_HTTP_REQUEST') {
    return 'a plaintext client (started with --insecure?); this server requires TLS';
  }
  if (/peer did not return a certificate|certificate required/i.test(err.message)) return 'a client without a certificate';
  return err.message.split('\n')[0]!;
}

/**
 * Logs connections a TLS gRPC server refused in its handshake: one line naming the peer and
 * why, at most once per `everyMs` (a stranger must not be able to flood the log). grpc-js does
 * not expose its HTTP/2 servers, so this looks at its `http2Servers` field; without one it
 * logs nothing (the peer still sees the refusal).
 */
export function logRefusedHandshakes(server: object, log: (peer: string, why: string, suppressed: number) => void, everyMs = 10_000): void {
  const servers = (server as { http2Servers?: Map<{ on(event: 'tlsClientError', l: (err: Error, socket: { remoteAddress?: string; remotePort?: number }) => void): void }, unknown> }).http2Servers;
  let last = 0;
  let suppressed = 0;
  for (const h2 of servers?.keys() ?? []) {
    h2.on('tlsClientError', (err, socket) => {
      const now = Date.now();
      if (now - last < everyMs) {
        suppressed++;
        return;
      }
      last = now;
      log(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, describeHandshakeFailure(err), suppressed);
      suppressed = 0;
    });
  }
}
