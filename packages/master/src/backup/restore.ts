import { existsSync, mkdirSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { DfsError, ErrorCode } from '@dfs/proto';
import { RaftNode } from '@dfs/raft';
import { FIRST_GRANTED_VERSION } from '../state/append.js';
import { RESTORE_KEYS, openDatabase } from '../state/schema.js';
import { verifyBackup, type BackupHeader } from './backup-file.js';

/**
 * How far the restored group's id counters jump past the backup's: handles and versions the
 * lost group may have handed out after the backup (up to 2^32 of each) are never reused, so
 * a chunk written after the backup can never pass for a new one. Handles stay far below 2^53.
 */
export const RESTORE_GAP = 2 ** 32;

export interface RestoreOptions {
  /** The backup file (verified end to end first). */
  file: string;
  /** The master's data directory: it must hold no metadata yet. */
  dir: string;
  /** Every master of the new group (each is started with --restore of the same file). */
  peers: ReadonlyArray<{ id: string; address: string }>;
}

/**
 * `dfs master --restore FILE`: bootstraps this master of a new Raft group from a metadata
 * backup. Every member is restored from the same file the same way, so they share one log
 * base: a Raft snapshot at the backup's applied index (term 1) whose configuration is
 * `peers`. The image is changed deterministically before it is used:
 *
 *   - next_handle and next_version jump by RESTORE_GAP, and the old and new values are
 *     recorded (schema RESTORE_KEYS). A chunkserver reporting a handle in that range holds
 *     a chunk written after the backup: the master keeps it aside (never served, never
 *     deleted) and lists it; a known chunk reported at a version in that range was appended
 *     after the backup and still holds the backed-up bytes as its prefix (chunks only grow),
 *     so it is served for the backed-up length and listed.
 */
export async function restoreFromBackup(opts: RestoreOptions): Promise<BackupHeader> {
  const metaDb = join(opts.dir, 'meta.db');
  const raftDir = join(opts.dir, 'raft');
  if (existsSync(metaDb) || existsSync(join(raftDir, 'raft.db'))) {
    throw new DfsError(ErrorCode.ALREADY_EXISTS, `${opts.dir} already holds metadata (meta.db or raft/): --restore starts a new group in an empty master directory`);
  }
  if (opts.peers.length === 0) throw new DfsError(ErrorCode.INVALID_ARGUMENT, '--restore needs the new group\'s members');
  mkdirSync(opts.dir, { recursive: true });
  const work = join(opts.dir, 'restore.work.db');
  const seed = join(opts.dir, 'restore.seed.db');
  const scratch = [work, `${work}-wal`, `${work}-shm`, seed];
  for (const f of scratch) await fsp.rm(f, { force: true });
  try {
    const header = await verifyBackup(opts.file, work);
    if (header.appliedIndex === 0) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${opts.file}: the backup holds nothing (applied index 0)`);
    // openDatabase migrates an older schema and adds newer tables, as a restart would.
    const db = openDatabase(work, { synchronous: 'FULL' });
    try {
      db.transaction(() => {
        const get = (key: string): number | undefined => (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: number } | undefined)?.value;
        const put = db.prepare('INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)');
        const handleFloor = get('next_handle') ?? 1;
        const versionFloor = get('next_version') ?? FIRST_GRANTED_VERSION;
        put.run(RESTORE_KEYS.handleFloor, handleFloor);
        put.run(RESTORE_KEYS.handleCeiling, handleFloor + RESTORE_GAP);
        put.run(RESTORE_KEYS.versionFloor, versionFloor);
        put.run(RESTORE_KEYS.versionCeiling, versionFloor + RESTORE_GAP);
        put.run('next_handle', handleFloor + RESTORE_GAP);
        put.run('next_version', versionFloor + RESTORE_GAP);
      })();
      db.prepare('VACUUM INTO ?').run(seed); // one self-contained file: the Raft snapshot's image
    } finally {
      db.close();
    }
    // meta.db is not written here: on start the Raft node finds the state machine behind its
    // snapshot and restores the snapshot into it, the path a crashed follower takes.
    await RaftNode.seedFromSnapshot(raftDir, opts.peers, header.appliedIndex, 1, seed);
    return header;
  } finally {
    for (const f of scratch) await fsp.rm(f, { force: true });
  }
}
