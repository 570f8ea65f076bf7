import type { PeerCertificate } from 'node:tls';
import { DfsError, ErrorCode } from '@dfs/proto';

/*
 * Who is calling: the role and name a peer certificate names in its SAN URI
 * (dfs://master/m1, dfs://chunkserver/c3, dfs://user/alice, dfs://admin/ops). A client
 * certificate's name is the user. The master asks `callerOf(call)` and nothing else.
 */
export type Role = 'master' | 'chunkserver' | 'client' | 'admin';
export const ROLES: readonly Role[] = ['master', 'chunkserver', 'client', 'admin'];

export interface Identity {
  readonly role: Role;
  readonly name: string;
}

/** The URI host for each role: a client identity is a user. */
const URI_KIND: Record<Role, string> = { master: 'master', chunkserver: 'chunkserver', client: 'user', admin: 'admin' };
const ROLE_BY_KIND = new Map<string, Role>(ROLES.map((r) => [URI_KIND[r], r]));

/** Names are ids and user names: short, printable, no separators. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isValidIdentityName(name: string): boolean {
  return NAME.test(name);
}

export function identityUri(id: Identity): string {
  return `dfs://${URI_KIND[id.role]}/${id.name}`;
}

export function parseIdentityUri(uri: string): Identity | undefined {
  const m = /^dfs:\/\/([a-z]+)\/([^/]+)$/.exec(uri);
  if (!m) return undefined;
  const role = ROLE_BY_KIND.get(m[1]!);
  if (!role || !isValidIdentityName(m[2]!)) return undefined;
  return { role, name: m[2]! };
}

/** The one dfs identity in a certificate's subjectAltName ("URI:dfs://…, IP Address:…"); two or none = no identity. */
export function identityFromSubjectAltName(san: string | undefined): Identity | undefined {
  if (!san) return undefined;
  const found = san
    .split(/,\s*/)
    .filter((part) => part.startsWith('URI:dfs://'))
    .map((part) => parseIdentityUri(part.slice('URI:'.length)));
  return found.length === 1 ? found[0] : undefined;
}

export function identityOfCertificate(cert: PeerCertificate | undefined): Identity | undefined {
  return identityFromSubjectAltName(cert?.subjectaltname);
}

/** What callerOf needs of a grpc-js server call (every kind of call has it). */
export interface AuthenticatedCall {
  getAuthContext(): { transportSecurityType?: string; sslPeerCertificate?: PeerCertificate } | null;
}

/**
 * The caller of a gRPC call, from its verified peer certificate.
 * `undefined` = a plaintext call, which only an `--insecure` server accepts;
 * `null` = a TLS peer whose certificate names no dfs identity.
 */
export function callerOf(call: AuthenticatedCall): Identity | null | undefined {
  const auth = call.getAuthContext();
  if (!auth || auth.transportSecurityType !== 'ssl') return undefined;
  return identityOfCertificate(auth.sslPeerCertificate) ?? null;
}

export function describeIdentity(id: Identity | null | undefined): string {
  if (id === undefined) return 'an unauthenticated (plaintext) peer';
  if (id === null) return 'a certificate with no dfs identity';
  return identityUri(id);
}

/**
 * Throws PERMISSION_DENIED unless the caller's certificate names one of `roles`. Returns
 * the identity, or undefined for a plaintext call (only an --insecure server takes those,
 * and it checks nothing). `what` names the RPC in the message.
 */
export function requireRole(call: AuthenticatedCall, what: string, roles: readonly Role[]): Identity | undefined {
  const caller = callerOf(call);
  if (caller === undefined) return undefined;
  if (caller === null || !roles.includes(caller.role)) {
    throw new DfsError(ErrorCode.PERMISSION_DENIED, `${what}: refused to ${describeIdentity(caller)} (allowed: ${roles.join(', ') || 'nobody'})`);
  }
  return caller;
}
