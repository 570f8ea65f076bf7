import type { Metadata } from '@grpc/grpc-js';
import { CHUNK_TOKEN_KEY, DfsError, ErrorCode } from '@dfs/proto';
import { decodeChunkToken, verifyChunkToken, type ChunkKeyRing, type ChunkOp, type ChunkTokenClaims } from '@dfs/security';
import type { ChunkRecord } from './chunk-store.js';

/*
 * No token, no bytes (HDFS block access tokens): every ChunkService call carries the token a
 * master signed (metadata "dfs-chunk-token"), checked here against the key ring the masters
 * sent over heartbeats. A token signed with a key this node has not heard of yet (a master
 * rotated a moment ago, or this node just started) waits for the next heartbeat, briefly.
 */

/** How long a call waits for a key it does not know (a few heartbeats). */
const UNKNOWN_KEY_WAIT_MS = 3_000;

export class TokenGate {
  constructor(
    private readonly selfId: string,
    private readonly ring: ChunkKeyRing,
    /** Ask every master for the ring now (an early heartbeat). */
    private readonly refreshKeys: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** The token in a call's metadata, verified for `ops` (any one of them) on `handle` at this node. */
  async check(metadata: Metadata, handle: number, ops: readonly ChunkOp[]): Promise<ChunkTokenClaims & { token: string }> {
    const raw = metadata.get(CHUNK_TOKEN_KEY)[0];
    if (raw === undefined) throw new DfsError(ErrorCode.PERMISSION_DENIED, `chunk ${handle}: no chunk access token (ask a master for the chunk's location)`);
    const token = String(raw);
    const decoded = decodeChunkToken(token); // a malformed token is refused before any wait for keys
    if (!this.ring.secret(decoded.keyId)) {
      this.refreshKeys();
      await this.ring.whenKeyArrives(UNKNOWN_KEY_WAIT_MS);
    }
    const claims = verifyChunkToken(decoded, (id) => this.ring.secret(id), { handle, op: ops, node: this.selfId, nowMs: this.now() });
    return { ...claims, token };
  }
}

/**
 * Reads and copies: a token for a newer version than this replica holds means this replica
 * missed a mutation (stale; the reader tries another). A replica newer than the token has
 * only gained appended bytes since the token was issued (the master records an append's
 * version when the writer completes it), so the bytes the reader knows of are unchanged.
 */
export function checkReadVersion(claims: ChunkTokenClaims, record: ChunkRecord): void {
  if (claims.version > record.version) {
    throw new DfsError(ErrorCode.STALE_VERSION, `chunk ${record.handle}: this replica has version ${record.version}, the token is for ${claims.version}`);
  }
}

/**
 * Writes: the token names the version being written, and a replica committed at that version
 * or later is never overwritten (a mutation of a committed chunk is an append under a newer,
 * granted version). A token older than the replica is stale.
 */
export function checkWriteVersion(claims: ChunkTokenClaims, headerVersion: number, existing: ChunkRecord | undefined): void {
  if (claims.version !== headerVersion) {
    throw new DfsError(ErrorCode.PERMISSION_DENIED, `chunk ${claims.handle}: the token is for version ${claims.version}, the write names ${headerVersion}`);
  }
  if (!existing) return;
  if (existing.version > claims.version) {
    throw new DfsError(ErrorCode.STALE_VERSION, `chunk ${claims.handle}: stale token for version ${claims.version}; this replica holds version ${existing.version}`);
  }
  if (existing.version === claims.version) {
    throw new DfsError(ErrorCode.PERMISSION_DENIED, `chunk ${claims.handle}: version ${existing.version} is committed here and is never overwritten`);
  }
}
