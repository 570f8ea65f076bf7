import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/*
 * The worker side of wal-checkpointer.ts: its own connection to the owner's database, on
 * which it runs PASSIVE checkpoints when asked and the WAL holds at least `thresholdPages`
 * frames not yet copied (SQLite's automatic rule). PASSIVE never waits for (or blocks) the
 * owner's writers or readers; whatever it cannot copy yet is copied by a later one.
 */
export interface CheckpointWorkerData {
  path: string;
  synchronous: 'FULL' | 'NORMAL' | 'OFF';
  thresholdPages: number;
}
export type CheckpointReply = { ran: boolean; log: number; checkpointed: number } | { closed: true } | { error: string };

/**
 * Frames in the WAL not yet copied into the database, from the wal-index header in the -shm
 * file (sqlite.org/walformat.html, 2.1: mxFrame at byte 16, then nBackfill at byte 96, native
 * byte order); undefined when it cannot be read (then the checkpoint just runs).
 */
function uncopiedFrames(shmPath: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(shmPath, 'r');
    const b = Buffer.alloc(100);
    if (readSync(fd, b, 0, 100, 0) < 100) return undefined;
    const le = b.readUInt32LE(0) === 3007000; // iVersion, written in native byte order
    const mxFrame = le ? b.readUInt32LE(16) : b.readUInt32BE(16);
    const nBackfill = le ? b.readUInt32LE(96) : b.readUInt32BE(96);
    return mxFrame >= nBackfill ? mxFrame - nBackfill : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const { path, synchronous, thresholdPages } = workerData as CheckpointWorkerData;
const port = parentPort!;
const db = new Database(path, { fileMustExist: true });
// A checkpoint syncs the WAL before it copies and the database after (NORMAL and FULL alike).
db.pragma(`synchronous = ${synchronous}`);
db.pragma('wal_autocheckpoint = 0');

port.on('message', (m: 'checkpoint' | 'close') => {
  try {
    if (m === 'close') {
      db.close();
      port.postMessage({ closed: true } satisfies CheckpointReply);
      port.close();
      return;
    }
    const pending = uncopiedFrames(`${path}-shm`);
    if (pending !== undefined && pending < thresholdPages) {
      port.postMessage({ ran: false, log: pending, checkpointed: 0 } satisfies CheckpointReply);
      return;
    }
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    port.postMessage({ ran: true, log: r!.log, checkpointed: r!.checkpointed } satisfies CheckpointReply);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) } satisfies CheckpointReply);
  }
});
