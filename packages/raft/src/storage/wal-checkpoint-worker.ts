import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/*
 * The worker side of wal-checkpointer.ts: its own connection to the owner's database, on
 * which it runs PASSIVE checkpoints when asked. PASSIVE never waits for (or blocks) the
 * owner's writers or readers; whatever it cannot copy yet is copied by a later one.
 */
export interface CheckpointWorkerData {
  path: string;
  synchronous: 'FULL' | 'NORMAL' | 'OFF';
}
export type CheckpointReply = { ran: true; log: number; checkpointed: number } | { closed: true } | { error: string };

const { path, synchronous } = workerData as CheckpointWorkerData;
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
    const [r] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    port.postMessage({ ran: true, log: r!.log, checkpointed: r!.checkpointed } satisfies CheckpointReply);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) } satisfies CheckpointReply);
  }
});
