import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { DfsError, ErrorCode, toDfsError, type ClusterStatusResponse, type MasterInfo, type MasterServiceClient } from '@dfs/proto';

/** A follower this many entries behind the leader's commit is not "caught up" for a backup. */
export const BACKUP_MAX_LAG = 1000;

/**
 * Where a backup is taken: caught-up followers first (most applied first), the leader last
 * (its VACUUM INTO would pause the one master that serves writes). Only the leader knows how
 * far each follower got, so the order comes from its ClusterStatus.
 */
export function backupSources(status: ClusterStatusResponse): MasterInfo[] {
  const leader = status.masters.find((m) => m.id === status.leaderId);
  if (!leader) return []; // without a leader nobody knows how far a follower got
  const commit = leader.commitIndex;
  const followers = status.masters
    .filter((m) => m.role === 'follower' && m.appliedIndex + BACKUP_MAX_LAG >= commit)
    .sort((a, b) => b.appliedIndex - a.appliedIndex);
  return [...followers, leader];
}

/** Streams one master's backup into `out` (ending it); rejects on any error. */
export function streamBackup(client: MasterServiceClient, out: Writable, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let failed = false;
    const call = client.backupMetadata({}, { deadline: Date.now() + timeoutMs });
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      call.cancel();
      reject(toDfsError(err));
    };
    call.on('data', (piece: { data: Uint8Array }) => {
      bytes += piece.data.length;
      if (!out.write(piece.data)) {
        call.pause();
        once(out, 'drain').then(() => call.resume(), fail);
      }
    });
    call.on('error', fail);
    out.on('error', fail);
    call.on('end', () => {
      if (failed) return;
      out.end(() => resolve(bytes));
    });
  });
}

/** Tries each source in order until one streams a whole backup; `open` gives a fresh output per try. */
export async function takeBackup(
  sources: MasterInfo[],
  clientFor: (address: string) => MasterServiceClient,
  open: () => Writable,
  timeoutMs: number,
): Promise<{ from: MasterInfo; bytes: number }> {
  let last: DfsError | undefined;
  for (const m of sources) {
    try {
      const bytes = await streamBackup(clientFor(m.address), open(), timeoutMs);
      return { from: m, bytes };
    } catch (err) {
      last = toDfsError(err);
      if (last.code === ErrorCode.PERMISSION_DENIED) throw last; // every master would say so
    }
  }
  throw last ?? new DfsError(ErrorCode.UNAVAILABLE, 'no master to take a backup from (no leader known)');
}
