import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, errorCodeName } from '@dfs/proto';
import { encodeCommand, type Command, type CommandResult } from '../src/state/commands.js';
import { MetadataStore } from '../src/state/metadata-store.js';

/**
 * A fresh temp dir per test; `cleanup` removes it. A closed store's WAL checkpointer thread may
 * still be closing its own connection, which removes the -wal and -shm files while the directory
 * is being emptied: rmSync retries ENOTEMPTY for that.
 */
export function tempDir(prefix = 'dfs-master-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }) };
}

/** A store driven the way a log drives it: each command at the next index; keeps the log. */
export class StoreHarness {
  readonly log: Uint8Array[] = [];
  constructor(readonly store: MetadataStore) {}

  apply(cmd: Command): CommandResult {
    const data = encodeCommand(cmd);
    this.log.push(data);
    return this.store.apply(this.store.appliedIndex() + 1, data)!;
  }

  ok<T = any>(cmd: Command): T {
    const r = this.apply(cmd);
    if (!r.ok) assert.fail(`${cmd.type} failed: ${errorCodeName(r.code)}: ${r.message}`);
    return r.value as T;
  }

  /** Applies a command that must fail with `code` and must change nothing but the applied index. */
  fails(cmd: Command, code: ErrorCode): string {
    const before = withoutAppliedIndex(this.store.dump());
    const r = this.apply(cmd);
    if (r.ok) assert.fail(`${cmd.type} succeeded, expected ${errorCodeName(code)}`);
    assert.equal(errorCodeName(r.code), errorCodeName(code), r.message);
    assert.deepEqual(withoutAppliedIndex(this.store.dump()), before, `${cmd.type} failed but changed state`);
    return r.message;
  }
}

export function withoutAppliedIndex(d: ReturnType<MetadataStore['dump']>): unknown {
  return { ...d, meta: d.meta.filter((m) => (m as { key: string }).key !== 'applied_index') };
}

export function openStore(dir: string, name = 'meta.db'): MetadataStore {
  return new MetadataStore(join(dir, name), { synchronous: 'OFF' });
}

/**
 * Inside a describe(): every test gets a fresh store in a fresh temp dir (closed and removed
 * after it), as `fixture.h` (its harness) and `fixture.dir`.
 */
export function storePerTest(): { h: StoreHarness; dir: string } {
  const fixture = {} as { h: StoreHarness; dir: string };
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => {
    t = tempDir();
    fixture.dir = t.dir;
    fixture.h = new StoreHarness(openStore(t.dir));
  });
  afterEach(async () => {
    await fixture.h.store.close();
    t.cleanup();
  });
  return fixture;
}

export const T0 = 1_700_000_000_000;

// ---- command builders (times default to T0; leases to T0 + 60 s) ----
import type { ChunkCommit, CreateFileCmd } from '../src/state/commands.js';

export const LEASE = 60_000;
export const CHUNK = 1024;

export function createCmd(path: string, clientId = 'c1', over: Partial<CreateFileCmd> = {}): CreateFileCmd {
  return {
    type: 'CreateFile', path, overwrite: false, replication: 3, mode: 0o644, chunkSize: CHUNK, clientId,
    now: T0, leaseExpiry: T0 + LEASE, ...over,
  };
}

/** Creates, fills (one chunk per length) and completes a file; returns its inode and chunks. */
export function writeFile(h: StoreHarness, path: string, lengths: number[], clientId = 'c1', overwrite = false): {
  inode: number;
  chunks: ChunkCommit[];
} {
  const { file } = h.ok(createCmd(path, clientId, { overwrite }));
  const chunks: ChunkCommit[] = [];
  lengths.forEach((length, index) => {
    const r = h.ok({ type: 'AddChunk', inode: file.inode, clientId, index, now: T0, leaseExpiry: T0 + LEASE });
    chunks.push({ handle: r.handle, length, crc32c: 1000 + index });
  });
  h.ok({ type: 'CompleteFile', inode: file.inode, clientId, chunks, now: T0 + 1 });
  return { inode: file.inode, chunks };
}
