import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import { DfsError, ErrorCode } from '@dfs/proto';
import { CLUSTER_ID_KEY, SCHEMA_VERSION } from '../state/schema.js';
import type { MetadataStore } from '../state/metadata-store.js';

/*
 * A metadata backup file (`dfs admin backup`, `--backup-every`), one file a person can take
 * off the cluster:
 *
 *   DFS-METADATA-BACKUP 1\n
 *   {"clusterId":…,"appliedIndex":…,"schemaVersion":…,"createdAt":…,"master":…,"bytes":…,"sha256":…}\n
 *   <bytes: a SQLite image of the applied state (VACUUM INTO), sha256 over exactly these bytes>
 *
 * The image is the same thing a Raft snapshot holds, so restoring it (restore.ts) is
 * bootstrapping a group from a snapshot. The header is plain text so `head -2` shows it.
 */
export const BACKUP_MAGIC = 'DFS-METADATA-BACKUP 1\n';
/** A header line longer than this is not ours. */
const MAX_HEADER_BYTES = 4096;

export interface BackupHeader {
  /** 12 hex digits; '' when the cluster had no id yet (a backup taken before its first leader proposed one). */
  clusterId: string;
  appliedIndex: number;
  schemaVersion: number;
  /** ISO time the image was taken. */
  createdAt: string;
  /** The master that took it. */
  master: string;
  /** Length of the image after the header. */
  bytes: number;
  /** sha256 of the image, hex. */
  sha256: string;
}

function bad(path: string, why: string): never {
  throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${path}: not a dfs metadata backup (${why})`);
}

/** The header as written at the start of a backup file. */
export function encodeHeader(h: BackupHeader): Buffer {
  return Buffer.from(BACKUP_MAGIC + JSON.stringify(h) + '\n');
}

/** Reads and checks the header of a backup file; returns it with the image's offset. */
export async function readBackupHeader(path: string): Promise<{ header: BackupHeader; offset: number }> {
  const fh = await fsp.open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new DfsError(err.code === 'ENOENT' ? ErrorCode.NOT_FOUND : ErrorCode.INVALID_ARGUMENT, `${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  try {
    const buf = Buffer.alloc(BACKUP_MAGIC.length + MAX_HEADER_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead);
    if (!head.subarray(0, BACKUP_MAGIC.length).equals(Buffer.from(BACKUP_MAGIC))) bad(path, 'wrong magic');
    const end = head.indexOf(0x0a, BACKUP_MAGIC.length);
    if (end < 0) bad(path, 'header line not terminated');
    let parsed: unknown;
    try {
      parsed = JSON.parse(head.subarray(BACKUP_MAGIC.length, end).toString('utf8'));
    } catch {
      bad(path, 'header is not JSON');
    }
    return { header: checkHeader(path, parsed), offset: end + 1 };
  } finally {
    await fh.close();
  }
}

function checkHeader(path: string, v: unknown): BackupHeader {
  if (typeof v !== 'object' || v === null) bad(path, 'header is not an object');
  const h = v as Record<string, unknown>;
  const uint = (k: string): number => {
    const x = h[k];
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) bad(path, `header field ${k} is not a count`);
    return x;
  };
  const str = (k: string, re: RegExp): string => {
    const x = h[k];
    if (typeof x !== 'string' || !re.test(x)) bad(path, `header field ${k} is malformed`);
    return x;
  };
  return {
    clusterId: str('clusterId', /^([0-9a-f]{12})?$/),
    appliedIndex: uint('appliedIndex'),
    schemaVersion: uint('schemaVersion'),
    createdAt: str('createdAt', /^\d{4}-\d\d-\d\dT[\d:.]+Z$/),
    master: str('master', /^[A-Za-z0-9._-]{1,64}$/),
    bytes: uint('bytes'),
    sha256: str('sha256', /^[0-9a-f]{64}$/),
  };
}

async function sha256Of(path: string, start = 0): Promise<{ hex: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const piece of createReadStream(path, { start, highWaterMark: 1 << 20 })) {
    hash.update(piece as Buffer);
    bytes += (piece as Buffer).length;
  }
  return { hex: hash.digest('hex'), bytes };
}

/** applied_index, schema_version and cluster id of a SQLite image, after SQLite's integrity check. */
function inspectImage(image: string): { appliedIndex: number; schemaVersion: number; clusterId: string } {
  let db: Database.Database;
  try {
    db = new Database(image, { readonly: true, fileMustExist: true });
    db.pragma('schema_version'); // reads the header: "file is not a database" surfaces here
  } catch (err) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `metadata image is not a SQLite database: ${(err as Error).message}`);
  }
  try {
    const verdict = db.pragma('integrity_check', { simple: true }) as string;
    if (verdict !== 'ok') throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `metadata image fails SQLite's integrity check: ${verdict}`);
    const meta = (key: string): number | undefined => (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: number } | undefined)?.value;
    const appliedIndex = meta('applied_index');
    const schemaVersion = meta('schema_version');
    if (appliedIndex === undefined || schemaVersion === undefined) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'metadata image has no applied index or schema version');
    const id = meta(CLUSTER_ID_KEY);
    return { appliedIndex, schemaVersion, clusterId: id === undefined ? '' : id.toString(16).padStart(12, '0') };
  } catch (err) {
    if (err instanceof DfsError) throw err;
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `metadata image is not a dfs metadata database: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

/**
 * Takes a backup of the store's applied state into `path` (written to `path.partial`, then
 * renamed). VACUUM INTO runs on the store's connection, so no apply interleaves: the image
 * is exactly the state at its applied index, and writes go on meanwhile on the other masters.
 */
export async function writeBackup(store: MetadataStore, master: string, path: string): Promise<BackupHeader> {
  const image = `${path}.image`;
  const partial = `${path}.partial`;
  try {
    await store.snapshot(image);
    const facts = inspectImage(image);
    const sum = await sha256Of(image);
    const header: BackupHeader = { ...facts, createdAt: new Date().toISOString(), master, bytes: sum.bytes, sha256: sum.hex };
    const out = createWriteStream(partial);
    out.write(encodeHeader(header));
    await pipeline(createReadStream(image), out);
    const fh = await fsp.open(partial, 'r+');
    await fh.sync();
    await fh.close();
    await fsp.rename(partial, path);
    return header;
  } finally {
    await fsp.rm(image, { force: true });
    await fsp.rm(partial, { force: true });
  }
}

/**
 * Checks a backup file end to end: header, length, sha256 of the image, SQLite's integrity
 * check, and that the image holds the index, schema and cluster the header names. With
 * `extractTo`, leaves the verified image there (what a restore starts from).
 */
export async function verifyBackup(path: string, extractTo?: string): Promise<BackupHeader> {
  const { header, offset } = await readBackupHeader(path);
  const size = (await fsp.stat(path)).size;
  if (size - offset !== header.bytes) throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `${path}: image is ${size - offset} bytes, the header says ${header.bytes} (truncated?)`);
  if (header.schemaVersion > SCHEMA_VERSION) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${path}: schema version ${header.schemaVersion}, this build understands up to ${SCHEMA_VERSION}`);
  const sum = await sha256Of(path, offset);
  if (sum.hex !== header.sha256) throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `${path}: image checksum mismatch (sha256 ${sum.hex}, header says ${header.sha256})`);
  // A name of its own per call: two verifies in one millisecond shared `pid-Date.now()` and one
  // read the other's half-copied image.
  const image = extractTo ?? join(tmpdir(), `dfs-verify-${randomUUID()}.db`);
  try {
    await pipeline(createReadStream(path, { start: offset }), createWriteStream(image));
    const facts = inspectImage(image);
    if (facts.appliedIndex !== header.appliedIndex || facts.schemaVersion !== header.schemaVersion || facts.clusterId !== header.clusterId) {
      throw new DfsError(ErrorCode.CHECKSUM_MISMATCH, `${path}: the image holds index ${facts.appliedIndex}, schema ${facts.schemaVersion}, cluster ${facts.clusterId || '-'}; the header disagrees`);
    }
  } catch (err) {
    if (extractTo) await fsp.rm(extractTo, { force: true });
    throw err;
  } finally {
    if (!extractTo) await fsp.rm(image, { force: true });
  }
  return header;
}
