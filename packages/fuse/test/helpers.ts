import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errnoName, type ErrnoName } from '../src/fs/errno.js';
import { DfsFileSystem, type FileSystemOptions } from '../src/fs/filesystem.js';
import type { MemoryBackend } from './memory-backend.js';

/** A fake clock the caches read. */
export class FakeClock {
  constructor(public ms = 1_000_000) {}
  now = (): number => this.ms;
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface Harness {
  fs: DfsFileSystem;
  spoolDir: string;
  cleanup(): Promise<void>;
}

export function makeFs(backend: MemoryBackend, opts: Partial<FileSystemOptions> = {}): Harness {
  const spoolDir = mkdtempSync(join(tmpdir(), 'dfs-fuse-unit-'));
  const fs = new DfsFileSystem(backend, { remoteRoot: '/', spoolDir, owner: { uid: 1000, gid: 1000 }, ...opts });
  return {
    fs,
    spoolDir,
    cleanup: async () => {
      await fs.disposeAll();
      rmSync(spoolDir, { recursive: true, force: true });
    },
  };
}

/** Asserts that `work` fails with `errno`. */
export async function rejectsWith(work: Promise<unknown>, errno: ErrnoName): Promise<void> {
  try {
    await work;
  } catch (err) {
    assert.equal(errnoName(err), errno, `expected ${errno}, got ${errnoName(err)} (${err instanceof Error ? err.message : String(err)})`);
    return;
  }
  assert.fail(`expected ${errno}, but it succeeded`);
}

/** Reads a whole file through an open handle. */
export async function readAll(fs: DfsFileSystem, fd: number, size: number, step = 4096): Promise<Buffer> {
  const out = Buffer.alloc(size + step);
  let pos = 0;
  for (;;) {
    const n = await fs.read(fd, out.subarray(pos), step, pos);
    if (n === 0) break;
    pos += n;
  }
  return out.subarray(0, pos);
}

export async function writeAll(fs: DfsFileSystem, fd: number, data: Buffer, pos = 0): Promise<void> {
  await fs.write(fd, data, data.length, pos);
}
