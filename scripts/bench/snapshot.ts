import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { MetadataStore, encodeCommand, verifyBackup, writeBackup, type Command } from '@dfs/master';

/*
 * make bench-snapshot: what a directory snapshot and a metadata backup cost on the master,
 * in process (no network: the Raft entry of a snapshot is ~100 bytes whatever the tree).
 * A tree of BENCH_SNAP_FILES files (one committed chunk each) in 100 directories; then:
 *
 *   snapshot apply   CreateSnapshot of the tree (copies its inode and chunk rows)
 *     ceiling        the same rows copied by bare SQLite (INSERT … SELECT into plain tables)
 *     reference      a recursive delete of the same tree (one command, one transaction)
 *   backup           writeBackup: VACUUM INTO + sha256 + header (what dfs admin backup streams)
 *     ceiling        copyFile of the database file + sha256 of it
 *
 * Figures from a shared, loaded machine are noisy; the ratios are what to read.
 */
const FILES = Number(process.env.BENCH_SNAP_FILES ?? 50_000);
const DIRS = 100;
const T0 = 1_700_000_000_000;

function ms(t: number): string {
  return `${(performance.now() - t).toFixed(0)} ms`;
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(piece as Buffer);
  return h.digest('hex');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dfs-bench-snap-'));
  try {
    const store = new MetadataStore(join(dir, 'meta.db'), { synchronous: 'NORMAL' });
    let index = 0;
    const entries: Array<{ index: number; data: Uint8Array }> = [];
    const push = (cmd: Command): void => {
      entries.push({ index: ++index, data: encodeCommand(cmd) });
    };
    const flush = (): Array<unknown> => store.applyBatch(entries.splice(0)).map((r) => (r?.ok ? r.value : undefined));
    for (let d = 0; d < DIRS; d++) push({ type: 'Mkdir', path: `/tree/d${d}`, parents: true, mode: 0o755, now: T0 });
    flush();
    for (let i = 0; i < FILES; i += 200) {
      for (let j = i; j < Math.min(FILES, i + 200); j++) {
        push({ type: 'CreateFile', path: `/tree/d${j % DIRS}/f${j}`, overwrite: false, replication: 3, mode: 0o644, chunkSize: 1 << 20, clientId: 'bench', now: T0, leaseExpiry: T0 + 60_000, firstChunk: true });
      }
      const created = flush() as Array<{ file: { inode: number }; firstChunk: { handle: number } }>;
      for (const c of created) push({ type: 'CompleteFile', inode: c.file.inode, clientId: 'bench', chunks: [{ handle: c.firstChunk.handle, length: 1000, crc32c: 1 }], now: T0 });
      flush();
    }
    const size = statSync(join(dir, 'meta.db')).size;
    process.stdout.write(`tree: ${FILES} files in ${DIRS} directories, database ${(size / 1e6).toFixed(1)} MB\n`);

    push({ type: 'AllowSnapshot', path: '/tree', allow: true, now: T0 });
    flush();
    let t = performance.now();
    const r = store.apply(++index, encodeCommand({ type: 'CreateSnapshot', path: '/tree', name: 's1', now: T0 }));
    if (!r?.ok) throw new Error(`snapshot failed: ${JSON.stringify(r)}`);
    process.stdout.write(`snapshot apply      ${ms(t)}   (Raft entry: ${encodeCommand({ type: 'CreateSnapshot', path: '/tree', name: 's1', now: T0 }).length} bytes)\n`);

    const raw = new Database(join(dir, 'meta.db'));
    raw.exec('CREATE TABLE copy_inodes AS SELECT * FROM inodes WHERE 0; CREATE TABLE copy_chunks AS SELECT * FROM chunks WHERE 0;');
    t = performance.now();
    raw.transaction(() => {
      raw.exec('INSERT INTO copy_inodes SELECT * FROM inodes; INSERT INTO copy_chunks SELECT * FROM chunks;');
    })();
    process.stdout.write(`  ceiling: bare SQLite row copy ${ms(t)}\n`);
    raw.exec('DROP TABLE copy_inodes; DROP TABLE copy_chunks;');
    raw.close();

    const backup = join(dir, 'meta.dfsbak');
    t = performance.now();
    const header = await writeBackup(store, 'bench', backup);
    process.stdout.write(`backup (VACUUM INTO + sha256) ${ms(t)}   ${(header.bytes / 1e6).toFixed(1)} MB image\n`);
    t = performance.now();
    await copyFile(join(dir, 'meta.db'), join(dir, 'plain.db'));
    await sha256(join(dir, 'plain.db'));
    process.stdout.write(`  ceiling: copyFile + sha256 of the database ${ms(t)}\n`);
    t = performance.now();
    await verifyBackup(backup);
    process.stdout.write(`verify backup       ${ms(t)}\n`);

    push({ type: 'DeleteSnapshot', path: '/tree', name: 's1', now: T0 });
    push({ type: 'AllowSnapshot', path: '/tree', allow: false, now: T0 });
    flush();
    t = performance.now();
    const del = store.apply(++index, encodeCommand({ type: 'Delete', path: '/tree', recursive: true, skipTrash: true, now: T0 }));
    if (!del?.ok) throw new Error(`delete failed: ${JSON.stringify(del)}`);
    process.stdout.write(`  reference: recursive delete of the tree ${ms(t)}\n`);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-snapshot: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
