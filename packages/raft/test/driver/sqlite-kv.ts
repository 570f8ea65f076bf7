import { copyFileSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { StateMachine } from '../../src/index.js';

/*
 * A tiny key-value state machine on SQLite, shaped as the master's will be: the applied
 * index is written in the same transaction as the change, snapshots are VACUUM INTO.
 */
export class SqliteKv implements StateMachine {
  private db: Database.Database;

  constructor(private readonly path: string) {
    this.db = SqliteKv.open(path);
  }

  private static open(path: string): Database.Database {
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL); CREATE TABLE IF NOT EXISTS applied (id INTEGER PRIMARY KEY CHECK (id = 1), idx INTEGER NOT NULL)');
    return db;
  }

  apply(index: number, data: Uint8Array): unknown {
    const cmd = JSON.parse(Buffer.from(data).toString('utf8')) as { op: 'put' | 'append'; k: string; v: string };
    return this.db.transaction(() => {
      const old = (this.db.prepare('SELECT v FROM kv WHERE k = ?').get(cmd.k) as { v: string } | undefined)?.v ?? '';
      const v = cmd.op === 'put' ? cmd.v : old + cmd.v;
      this.db.prepare('INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v').run(cmd.k, v);
      this.db.prepare('INSERT INTO applied (id, idx) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET idx = excluded.idx').run(index);
      return { index, value: v };
    })();
  }

  get(k: string): string | undefined {
    return (this.db.prepare('SELECT v FROM kv WHERE k = ?').get(k) as { v: string } | undefined)?.v;
  }

  appliedIndex(): number {
    return (this.db.prepare('SELECT idx FROM applied WHERE id = 1').get() as { idx: number } | undefined)?.idx ?? 0;
  }

  async snapshot(path: string): Promise<{ index: number }> {
    const index = this.appliedIndex();
    this.db.prepare('VACUUM INTO ?').run(path);
    return { index };
  }

  async restore(path: string, index: number): Promise<void> {
    this.db.close();
    for (const suffix of ['-wal', '-shm']) rmSync(this.path + suffix, { force: true });
    copyFileSync(path, this.path);
    this.db = SqliteKv.open(this.path);
    if (this.appliedIndex() !== index) throw new Error(`snapshot covers ${this.appliedIndex()}, expected ${index}`);
  }

  close(): void {
    this.db.close();
  }
}
