import Database from 'better-sqlite3';

/** Inode id of '/'. Its parent is 0 (no such inode). */
export const ROOT_ID = 1;
export const TYPE_FILE = 1;
export const TYPE_DIR = 2;
/** POSIX entries without data (docs/posix.md); the numbers match FileType on the wire. */
export const TYPE_SYMLINK = 3;
export const TYPE_FIFO = 4;
export const TYPE_SOCKET = 5;
export const TYPE_CHAR_DEVICE = 6;
export const TYPE_BLOCK_DEVICE = 7;
export const SCHEMA_VERSION = 3;
/** Owner and group of `/` and of every inode made before owners existed (schema 1). */
export const ROOT_OWNER = 'root';
export const ROOT_GROUP = 'supergroup';
/** meta key: the balancer's threshold × 1000 while a run is active (absent or 0 = stopped). */
export const BALANCER_KEY = 'balancer_threshold_milli';
/** meta key: the cluster's identity, a random 48-bit number the first leader proposes (SetClusterId). */
export const CLUSTER_ID_KEY = 'cluster_id';
/**
 * meta keys written by `dfs master --restore` (backup/restore.ts): the id counters the backup
 * held (floors) and where the restored group starts allocating (ceilings). A reported chunk
 * between them was written after the backup.
 */
export const RESTORE_KEYS = {
  handleFloor: 'restore_handle_floor',
  handleCeiling: 'restore_handle_ceiling',
  versionFloor: 'restore_version_floor',
  versionCeiling: 'restore_version_ceiling',
} as const;
/**
 * inodes.pending_overwrite of a file under construction: what it may replace when it attaches.
 * 0 = nothing (ALREADY_EXISTS), OVERWRITE_ANY = whatever file is there, any larger value = only
 * that inode (a conditional rewrite; inode 1 is `/`, so no file id is ambiguous).
 */
export const OVERWRITE_ANY = 1;

/*
 * inodes: one row per file or directory.
 *   A visible inode has parent = its directory and a unique (parent, name).
 *   A file under construction is *detached*: parent IS NULL, pending_parent = the directory
 *   it will appear in and name = its future name. CompleteFile attaches it atomically
 *   (replacing an old file when pending_overwrite: OVERWRITE_ANY, or only the inode it names),
 *   so readers never see a half-written file.
 * chunks: the ordered chunks of a file; `committed` once the writer (or lease recovery)
 *   fixed its length and CRC.
 * meta: applied_index (stored in the same transaction as every change), id counters, the
 *   balancer's run state (so a run survives a leader change), the cluster id, and after a
 *   restore from a metadata backup the counters' floors and ceilings (RESTORE_KEYS).
 * quotas: HDFS directory quotas (names, space = bytes x replication); usage is computed
 *   over the subtree when checked, inside apply (see quota.ts).
 * auth_keys / revoked_tokens: the cluster key that signs bearer tokens (a leader-proposed
 *   random secret, so every master holds the same one) and the ids of revoked tokens.
 * links: the extra names of an inode (hard links). An inode keeps its first name in its own
 *   row (parent, name); every further name is a row here. A name is unique across both
 *   (checked by Namespace.child); the link count is 1 + the inode's rows here. When the
 *   name in the inode row goes while links remain, one link is promoted into it, so the
 *   data lives until the last name goes (namespace.ts, processor.ts).
 * inodes.ctime: the last change of the inode (content, attributes, names), as POSIX;
 *   inodes.target: a symlink's target; inodes.rdev: a device node's number.
 * chunk_keys: the ring of keys that sign chunk access tokens (leader-proposed random secrets,
 *   rotated on a schedule; a key signs from active_from and is dropped once every token it
 *   signed has expired). Additive: CREATE IF NOT EXISTS brings it to older files.
 * lease_progress: when each file under construction last made progress (created, opened for
 *   append, a chunk added). RenewLease extends a lease at most to that time + the hard limit
 *   (HDFS), so a writer that only renews cannot hold a file forever. Additive, as chunk_keys.
 * op_results: the retry cache (HDFS RetryCache, Raft thesis 6.3): the result of every
 *   command that carried a client operation id, kept OP_RESULT_RETENTION_MS of command
 *   time, so a command retried after an ambiguous failure (the leader died after
 *   committing, before answering) returns its first result instead of acting twice.
 */
export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS inodes (
  id                 INTEGER PRIMARY KEY,
  parent             INTEGER,
  name               TEXT NOT NULL,
  type               INTEGER NOT NULL,
  mode               INTEGER NOT NULL,
  mtime              INTEGER NOT NULL,
  size               INTEGER NOT NULL DEFAULT 0,
  replication        INTEGER NOT NULL DEFAULT 0,
  chunk_size         INTEGER NOT NULL DEFAULT 0,
  chunk_count        INTEGER NOT NULL DEFAULT 0,
  under_construction INTEGER NOT NULL DEFAULT 0,
  lease_holder       TEXT,
  lease_expiry       INTEGER,
  pending_parent     INTEGER,
  pending_overwrite  INTEGER NOT NULL DEFAULT 0,
  owner              TEXT NOT NULL DEFAULT 'root',
  grp                TEXT NOT NULL DEFAULT 'supergroup',
  atime              INTEGER NOT NULL DEFAULT 0,
  ctime              INTEGER NOT NULL DEFAULT 0,
  target             TEXT,
  rdev               INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS inodes_parent_name ON inodes(parent, name);
CREATE INDEX IF NOT EXISTS inodes_pending ON inodes(pending_parent, name) WHERE pending_parent IS NOT NULL;
CREATE INDEX IF NOT EXISTS inodes_lease_holder ON inodes(lease_holder) WHERE lease_holder IS NOT NULL;
CREATE INDEX IF NOT EXISTS inodes_lease_expiry ON inodes(lease_expiry) WHERE under_construction = 1;
-- A directory's link count (2 + its subdirectories) without scanning its files.
CREATE INDEX IF NOT EXISTS inodes_subdirs ON inodes(parent) WHERE type = 2;

CREATE TABLE IF NOT EXISTS chunks (
  handle    INTEGER PRIMARY KEY,
  inode     INTEGER NOT NULL,
  idx       INTEGER NOT NULL,
  version   INTEGER NOT NULL,
  length    INTEGER NOT NULL DEFAULT 0,
  crc32c    INTEGER NOT NULL DEFAULT 0,
  committed INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS chunks_inode_idx ON chunks(inode, idx);

CREATE TABLE IF NOT EXISTS quotas (
  inode  INTEGER PRIMARY KEY,
  files  INTEGER,
  space  INTEGER
);

CREATE TABLE IF NOT EXISTS auth_keys (
  id      TEXT PRIMARY KEY,
  secret  TEXT NOT NULL,
  created INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS chunk_keys (
  id          TEXT PRIMARY KEY,
  secret      BLOB NOT NULL,
  active_from INTEGER NOT NULL,
  expires     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS lease_progress (
  inode INTEGER PRIMARY KEY,
  at    INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS lease_progress_gone AFTER DELETE ON inodes BEGIN
  DELETE FROM lease_progress WHERE inode = OLD.id;
END;

CREATE TABLE IF NOT EXISTS revoked_tokens (
  jti     TEXT PRIMARY KEY,
  expiry  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS op_results (
  op_id  TEXT NOT NULL,
  type   TEXT NOT NULL,
  at     INTEGER NOT NULL,
  result TEXT NOT NULL,
  PRIMARY KEY (op_id, type)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS op_results_at ON op_results(at);

CREATE TABLE IF NOT EXISTS links (
  parent INTEGER NOT NULL,
  name   TEXT NOT NULL,
  inode  INTEGER NOT NULL,
  PRIMARY KEY (parent, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_inode ON links(inode);
-- A name never outlives its inode, whatever removes the inode.
CREATE TRIGGER IF NOT EXISTS links_gone AFTER DELETE ON inodes BEGIN
  DELETE FROM links WHERE inode = OLD.id;
END;

-- Bytes of small files kept inline (no chunks); a row goes with its inode, whatever removes it.
CREATE TABLE IF NOT EXISTS inline_data (
  inode INTEGER PRIMARY KEY,
  data  BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS inline_data_gone AFTER DELETE ON inodes BEGIN
  DELETE FROM inline_data WHERE inode = OLD.id;
END;

-- Directory snapshots (snapshots.ts): snapshottable directories; each snapshot's copy of its
-- subtree's inode rows (same ids), committed chunk rows (handles shared with live files and
-- other snapshots) and inline bytes. Added in schema 2 without a version bump: new tables only.
CREATE TABLE IF NOT EXISTS snapshottable (
  inode INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS snapshots (
  id      INTEGER PRIMARY KEY,
  dir     INTEGER NOT NULL,
  name    TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS snapshots_dir_name ON snapshots(dir, name);
CREATE TABLE IF NOT EXISTS snapshot_inodes (
  snap        INTEGER NOT NULL,
  id          INTEGER NOT NULL,
  parent      INTEGER,
  name        TEXT NOT NULL,
  type        INTEGER NOT NULL,
  mode        INTEGER NOT NULL,
  mtime       INTEGER NOT NULL,
  size        INTEGER NOT NULL,
  replication INTEGER NOT NULL,
  chunk_size  INTEGER NOT NULL,
  chunk_count INTEGER NOT NULL,
  owner       TEXT NOT NULL,
  grp         TEXT NOT NULL,
  atime       INTEGER NOT NULL,
  ctime       INTEGER NOT NULL DEFAULT 0,
  target      TEXT,
  rdev        INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (snap, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS snapshot_inodes_parent ON snapshot_inodes(snap, parent, name);
CREATE TABLE IF NOT EXISTS snapshot_chunks (
  snap    INTEGER NOT NULL,
  handle  INTEGER NOT NULL,
  inode   INTEGER NOT NULL,
  idx     INTEGER NOT NULL,
  version INTEGER NOT NULL,
  length  INTEGER NOT NULL,
  crc32c  INTEGER NOT NULL,
  PRIMARY KEY (snap, inode, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS snapshot_chunks_handle ON snapshot_chunks(handle);
CREATE TABLE IF NOT EXISTS snapshot_inline (
  snap  INTEGER NOT NULL,
  inode INTEGER NOT NULL,
  data  BLOB NOT NULL,
  PRIMARY KEY (snap, inode)
);
`;

export interface OpenOptions {
  /** FULL when this database is the only durable copy (LocalCommandLog); NORMAL behind a Raft log. */
  synchronous?: 'FULL' | 'NORMAL' | 'OFF';
}

/** Opens (creating when needed) the metadata database with WAL and the schema in place. */
export function openDatabase(path: string, opts: OpenOptions = {}): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
  db.pragma('foreign_keys = OFF');
  db.pragma('cache_size = -65536'); // 64 MiB page cache
  db.pragma('temp_store = MEMORY');
  migrate(db);
  db.exec(SCHEMA_SQL);
  const init = db.transaction(() => {
    const ins = db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)');
    ins.run('schema_version', SCHEMA_VERSION);
    ins.run('applied_index', 0);
    ins.run('next_inode', ROOT_ID + 1);
    ins.run('next_handle', 1);
    db.prepare(
      `INSERT OR IGNORE INTO inodes(id, parent, name, type, mode, mtime) VALUES (?, 0, '', ?, ?, 0)`,
    ).run(ROOT_ID, TYPE_DIR, 0o755);
  });
  init();
  const v = (db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: number }).value;
  if (v !== SCHEMA_VERSION) {
    db.close();
    throw new Error(`metadata database ${path} has schema version ${v}, this build understands ${SCHEMA_VERSION}`);
  }
  return db;
}

/**
 * Brings an older database up to SCHEMA_VERSION one step at a time, each step additive
 * (new columns; new tables come from SCHEMA_SQL):
 *   1 → 2: owners, groups and access times on inodes;
 *   2 → 3: ctime (set to mtime), symlink targets and device numbers on inodes (and on
 *          snapshot_inodes, when snapshots exist).
 */
function migrate(db: Database.Database): void {
  const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get();
  if (!hasMeta) return;
  const row = db.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get() as { value: number } | undefined;
  if (row === undefined || row.value >= SCHEMA_VERSION) return;
  const setVersion = db.prepare(`UPDATE meta SET value = ? WHERE key = 'schema_version'`);
  db.transaction(() => {
    if (row.value < 2) {
      db.exec(`ALTER TABLE inodes ADD COLUMN owner TEXT NOT NULL DEFAULT '${ROOT_OWNER}'`);
      db.exec(`ALTER TABLE inodes ADD COLUMN grp TEXT NOT NULL DEFAULT '${ROOT_GROUP}'`);
      db.exec(`ALTER TABLE inodes ADD COLUMN atime INTEGER NOT NULL DEFAULT 0`);
    }
    if (row.value < 3) {
      db.exec(`ALTER TABLE inodes ADD COLUMN ctime INTEGER NOT NULL DEFAULT 0`);
      db.exec(`ALTER TABLE inodes ADD COLUMN target TEXT`);
      db.exec(`ALTER TABLE inodes ADD COLUMN rdev INTEGER NOT NULL DEFAULT 0`);
      db.exec(`UPDATE inodes SET ctime = mtime`);
      // Snapshots (made without a version bump in schema 2) copy the same columns.
      if (db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'snapshot_inodes'`).get()) {
        db.exec(`ALTER TABLE snapshot_inodes ADD COLUMN ctime INTEGER NOT NULL DEFAULT 0`);
        db.exec(`ALTER TABLE snapshot_inodes ADD COLUMN target TEXT`);
        db.exec(`ALTER TABLE snapshot_inodes ADD COLUMN rdev INTEGER NOT NULL DEFAULT 0`);
        db.exec(`UPDATE snapshot_inodes SET ctime = mtime`);
      }
    }
    setVersion.run(SCHEMA_VERSION);
  })();
}
