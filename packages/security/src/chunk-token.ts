import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { DfsError, ErrorCode, isNodeId } from '@dfs/proto';

/*
 * Chunk access tokens (HDFS block access tokens): a master signs what the holder may do to
 * one chunk — its handle and version, the operations, the chunkservers it may be done on,
 * the user, an expiry and, for a mutation under a chunk lease, the lease's expiry — with a
 * key of the ring kept in the Raft state. Chunkservers get the ring over their
 * authenticated heartbeats and verify locally; no master is asked per request.
 *
 * Wire form: KEYID.PAYLOAD.MAC — PAYLOAD is base64url JSON, MAC is base64url
 * HMAC-SHA256(secret, "KEYID.PAYLOAD"). The payload is readable (a client looks at the
 * expiry to refresh early) but cannot be changed without the key.
 */

export type ChunkOp = 'read' | 'write' | 'copy' | 'delete';
export const CHUNK_OPS: readonly ChunkOp[] = ['read', 'write', 'copy', 'delete'];
const OP_LETTER: Record<ChunkOp, string> = { read: 'r', write: 'w', copy: 'c', delete: 'd' };

/** A token is carried in request metadata: bounded, whatever a caller sends. */
export const MAX_CHUNK_TOKEN_BYTES = 4096;
/** Chunkservers a token may name (a pipeline is at most 32 replicas). */
export const MAX_TOKEN_NODES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const B64URL = /^[A-Za-z0-9_-]+$/;

export interface ChunkTokenClaims {
  handle: number;
  version: number;
  ops: ChunkOp[];
  /** The chunkservers this token is good on (the replicas, or a copy's source and target). */
  nodes: string[];
  user: string;
  expiresMs: number;
  /** A mutation under a chunk lease: the primary refuses it after this (0 = no lease bound). */
  leaseExpiryMs: number;
}

/** One key of the ring. */
export interface ChunkTokenKey {
  id: string;
  secret: Buffer;
  /** Masters sign with it from this time (it is handed out a little earlier, so every chunkserver has it). */
  activeFromMs: number;
  /** Every token it signed has expired by then: it is dropped. */
  expiresMs: number;
}

export function newChunkTokenKey(activeFromMs: number, expiresMs: number): ChunkTokenKey {
  return { id: randomBytes(8).toString('base64url'), secret: randomBytes(32), activeFromMs, expiresMs };
}

function denied(message: string): DfsError {
  return new DfsError(ErrorCode.PERMISSION_DENIED, message);
}

function mac(secret: Buffer, signed: string): Buffer {
  return createHmac('sha256', secret).update(signed).digest();
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Signs `claims` with `key`. */
export function mintChunkToken(key: ChunkTokenKey, claims: ChunkTokenClaims): string {
  if (claims.nodes.length > MAX_TOKEN_NODES || !claims.nodes.every((n) => isNodeId(n))) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `chunk token for ${claims.handle}: bad node list`);
  }
  const payload = Buffer.from(
    JSON.stringify({
      h: claims.handle,
      v: claims.version,
      o: claims.ops.map((o) => OP_LETTER[o]).join(''),
      n: claims.nodes,
      u: claims.user,
      e: claims.expiresMs,
      l: claims.leaseExpiryMs,
    }),
  ).toString('base64url');
  const signed = `${key.id}.${payload}`;
  return `${signed}.${mac(key.secret, signed).toString('base64url')}`;
}

/** The parts of a token, its claims read but NOT verified (a client peeks at the expiry). */
export interface DecodedChunkToken {
  keyId: string;
  claims: ChunkTokenClaims;
  signed: string;
  mac: string;
}

export function decodeChunkToken(token: string): DecodedChunkToken {
  if (typeof token !== 'string' || token.length === 0) throw denied('no chunk access token');
  if (token.length > MAX_CHUNK_TOKEN_BYTES) throw denied(`chunk access token of ${token.length} bytes (at most ${MAX_CHUNK_TOKEN_BYTES})`);
  const parts = token.split('.');
  if (parts.length !== 3 || !KEY_ID.test(parts[0]!) || !B64URL.test(parts[1]!) || !B64URL.test(parts[2]!)) throw denied('malformed chunk access token');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    throw denied('malformed chunk access token');
  }
  // JSON `null` or a number parses too: checked before any field is read.
  if (typeof raw !== 'object' || raw === null) throw denied('malformed chunk access token');
  const p = raw as Record<string, unknown>;
  const ops = typeof p['o'] === 'string' ? [...p['o']].map((l) => CHUNK_OPS.find((o) => OP_LETTER[o] === l)) : [];
  if (
    !isUint(p['h']) || !isUint(p['v']) || !isUint(p['e']) || !isUint(p['l']) ||
    typeof p['u'] !== 'string' || p['u'].length > 64 || ops.length === 0 || ops.some((o) => o === undefined) ||
    !Array.isArray(p['n']) || p['n'].length > MAX_TOKEN_NODES || !p['n'].every((n) => typeof n === 'string' && isNodeId(n))
  ) {
    throw denied('malformed chunk access token');
  }
  return {
    keyId: parts[0]!,
    signed: `${parts[0]}.${parts[1]}`,
    mac: parts[2]!,
    claims: { handle: p['h'], version: p['v'], ops: ops as ChunkOp[], nodes: p['n'] as string[], user: p['u'], expiresMs: p['e'], leaseExpiryMs: p['l'] },
  };
}

export interface TokenRequirement {
  handle: number;
  /** The operation being done: the token must allow one of these. */
  op: ChunkOp | readonly ChunkOp[];
  /** The chunkserver checking it (it must be named), or the one the holder means to dial. */
  node: string;
  nowMs: number;
}

/**
 * Verifies a token for one request: a known key, the MAC, not expired (TOKEN_EXPIRED), this
 * handle, this operation, this node. Anything else is PERMISSION_DENIED, one line. The
 * version is the caller's to compare: it knows the replica.
 */
export function verifyChunkToken(token: string | DecodedChunkToken, keyById: (id: string) => Buffer | undefined, want: TokenRequirement): ChunkTokenClaims {
  const t = typeof token === 'string' ? decodeChunkToken(token) : token; // a caller that decoded already passes the parts
  const secret = keyById(t.keyId);
  if (!secret) throw denied(`chunk access token signed with unknown key ${t.keyId}`);
  const got = Buffer.from(t.mac, 'base64url');
  const expected = mac(secret, t.signed);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw denied('chunk access token has a bad signature');
  const c = t.claims;
  if (c.expiresMs <= want.nowMs) {
    throw new DfsError(ErrorCode.TOKEN_EXPIRED, `chunk access token for chunk ${c.handle} expired at ${new Date(c.expiresMs).toISOString()}`);
  }
  if (c.handle !== want.handle) throw denied(`chunk access token is for chunk ${c.handle}, not ${want.handle}`);
  const wanted: readonly ChunkOp[] = typeof want.op === 'string' ? [want.op] : want.op;
  if (!wanted.some((o) => c.ops.includes(o))) throw denied(`chunk access token for chunk ${c.handle} does not allow ${wanted.join(' or ')} (allows ${c.ops.join(', ')})`);
  if (!c.nodes.includes(want.node)) throw denied(`chunk access token for chunk ${c.handle} does not name chunkserver ${want.node}`);
  return c;
}

/**
 * The key a master signs with: the newest one already active that outlives a token issued
 * now; else the newest active one (a ring about to rotate); undefined before the first key.
 */
export function signingKeyOf<K extends { activeFromMs: number; expiresMs: number }>(keys: readonly K[], nowMs: number, ttlMs: number): K | undefined {
  const active = keys.filter((k) => k.activeFromMs <= nowMs && k.expiresMs > nowMs).sort((a, b) => b.activeFromMs - a.activeFromMs);
  return active.find((k) => k.expiresMs >= nowMs + ttlMs) ?? active[0];
}

/**
 * A chunkserver's copy of the ring: the union of what every master sent (a follower may lag
 * the leader by an entry), expired keys dropped. Bounded: a ring never holds more than a few.
 */
export class ChunkKeyRing {
  private readonly keys = new Map<string, ChunkTokenKey>();
  private waiters: Array<() => void> = [];
  static readonly MAX_KEYS = 64;

  merge(keys: readonly ChunkTokenKey[], nowMs: number): void {
    let added = false;
    for (const k of keys) {
      if (!KEY_ID.test(k.id) || k.secret.length < 16 || k.expiresMs <= nowMs || this.keys.has(k.id)) continue;
      this.keys.set(k.id, { id: k.id, secret: Buffer.from(k.secret), activeFromMs: k.activeFromMs, expiresMs: k.expiresMs });
      added = true;
    }
    for (const [id, k] of this.keys) if (k.expiresMs <= nowMs) this.keys.delete(id);
    while (this.keys.size > ChunkKeyRing.MAX_KEYS) {
      const oldest = [...this.keys.values()].sort((a, b) => a.expiresMs - b.expiresMs)[0]!;
      this.keys.delete(oldest.id);
    }
    if (added) {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
  }

  secret(id: string): Buffer | undefined {
    return this.keys.get(id)?.secret;
  }

  get size(): number {
    return this.keys.size;
  }

  /** Resolves when a key arrives, or after `ms` (a token signed just after a rotation). */
  whenKeyArrives(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
    });
  }
}
