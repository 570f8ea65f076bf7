import { DfsError, ErrorCode, type ChunkTokenKey as WireKey } from '@dfs/proto';
import { mintChunkToken, newChunkTokenKey, signingKeyOf, type ChunkOp, type ChunkTokenKey } from '@dfs/security';
import type { AddChunkKeyCmd } from '../state/commands.js';

/*
 * The master's half of chunk access tokens (HDFS BlockTokenSecretManager). The key ring
 * lives in the Raft state (chunk_keys), so every master — followers serving reads too —
 * signs with the same keys. The leader rotates it:
 *
 *   key k:  |-- handed out --|------ signs (rotationMs) ------|--- verifies only (ttl) ---|
 *           proposed        activeFrom                        next key signs           expires
 *
 * A new key is proposed `leadMs` before it starts signing, so chunkservers (which learn the
 * ring from heartbeats) hold it before any token it signed reaches them; an old key stays
 * until every token it signed has expired, then the next rotation retires it.
 */

export interface ChunkTokenConfig {
  /** How long a token is good for. Clients refresh an expired one from the master. */
  ttlMs: number;
  /** How long one key signs before the next takes over. */
  rotationMs: number;
}

export const DEFAULT_CHUNK_TOKEN_CONFIG: ChunkTokenConfig = { ttlMs: 10 * 60_000, rotationMs: 60 * 60_000 };

/** Chunkservers heartbeat every second: a few seconds' head start reaches them all. */
export function leadTimeOf(cfg: ChunkTokenConfig): number {
  return Math.min(10_000, Math.floor(cfg.rotationMs / 4));
}

/**
 * The next key to propose, or undefined while the newest key has long enough to run. The
 * first key of a cluster signs at once (chunkservers that lack it wait for their next
 * heartbeat, see the chunkserver's token gate).
 */
export function planChunkKey(keys: readonly ChunkTokenKey[], nowMs: number, cfg: ChunkTokenConfig): AddChunkKeyCmd | undefined {
  const lead = leadTimeOf(cfg);
  const newest = keys.reduce<ChunkTokenKey | undefined>((a, k) => (!a || k.activeFromMs > a.activeFromMs ? k : a), undefined);
  if (newest && newest.activeFromMs + cfg.rotationMs - lead > nowMs) return undefined;
  const activeFrom = newest ? nowMs + lead : nowMs;
  // A token signed at the very end of the signing window lives ttl more; a minute of clock slack.
  // Keys past their expiry are retired by the same command (apply deletes them).
  const key = newChunkTokenKey(activeFrom, activeFrom + cfg.rotationMs + cfg.ttlMs + 60_000);
  return { type: 'AddChunkKey', id: key.id, secret: key.secret.toString('base64'), activeFrom: key.activeFromMs, expires: key.expiresMs, now: nowMs };
}

/** The ring as register and heartbeat answers carry it (to an authenticated chunkserver only). */
export function keysForChunkservers(keys: readonly ChunkTokenKey[], nowMs: number): WireKey[] {
  return keys.filter((k) => k.expiresMs > nowMs).map((k) => ({ id: k.id, secret: k.secret, activeFromMs: k.activeFromMs, expiresMs: k.expiresMs }));
}

export interface TokenGrant {
  handle: number;
  version: number;
  ops: ChunkOp[];
  nodes: string[];
  user: string;
  leaseExpiryMs?: number;
}

/** Signs chunk access tokens with the ring's current key. */
export class ChunkTokenIssuer {
  constructor(
    private readonly keys: () => readonly ChunkTokenKey[],
    readonly cfg: ChunkTokenConfig,
  ) {}

  issue(g: TokenGrant, nowMs: number): string {
    const key = signingKeyOf(this.keys(), nowMs, this.cfg.ttlMs);
    if (!key) throw new DfsError(ErrorCode.UNAVAILABLE, 'the chunk token key ring is not set up yet; retry');
    // Never outlive the key: a chunkserver drops it at its expiry.
    const expiresMs = Math.min(nowMs + this.cfg.ttlMs, key.expiresMs);
    return mintChunkToken(key, { handle: g.handle, version: g.version, ops: g.ops, nodes: g.nodes, user: g.user, expiresMs, leaseExpiryMs: g.leaseExpiryMs ?? 0 });
  }
}
