import { strict as assert } from 'node:assert';
import type { DfsFileSystem, FileSystemOptions } from '../src/fs/filesystem.js';
import { runFsx, type FsxTarget } from '@dfs/testkit';
import { makeFs } from './helpers.js';
import { MemoryBackend } from './memory-backend.js';

/** fsx straight on the adapter (no kernel): the spool, truncate and commit logic. */
function adapterTarget(fs: DfsFileSystem, path: string): FsxTarget & { close(): Promise<void> } {
  let fd = 0;
  const ensure = async (): Promise<number> => (fd ||= await fs.open(path));
  return {
    write: async (data, pos) => void (await fs.write(await ensure(), data, data.length, pos)),
    truncate: async (size) => fs.ftruncate(await ensure(), size),
    read: async (len, pos) => {
      const out = Buffer.alloc(len);
      const n = await fs.read(await ensure(), out, len, pos);
      return out.subarray(0, n);
    },
    size: async () => (await fs.getattr(path)).size,
    reopen: async () => {
      if (fd) await fs.release(fd);
      fd = await fs.open(path);
    },
    close: async () => {
      if (fd) await fs.release(fd);
      fd = 0;
    },
  };
}

/** One fsx run on a fresh adapter over a memory backend; no mismatch allowed. */
async function fsxOnAdapter(seed: number, fsOpts: Partial<FileSystemOptions>, fsxOpts: { ops: number; maxFileSize: number; maxOpSize: number }): Promise<void> {
  const h = makeFs(new MemoryBackend(), { blockSize: 16 * 1024, readaheadMax: 64 * 1024, cacheBytes: 128 * 1024, ...fsOpts });
  try {
    const fd = await h.fs.create('/fsx', 0o644);
    await h.fs.release(fd);
    const target = adapterTarget(h.fs, '/fsx');
    const result = await runFsx(seed, target, fsxOpts);
    await target.close();
    assert.equal(result.mismatches, 0, result.reports.join('\n'));
  } finally {
    await h.cleanup();
  }
}

describe('fsx on the adapter', () => {
  for (const seed of [1, 2, 3, 42, 1337, 9001]) {
    it(`seed ${seed}: 400 random operations, zero mismatches`, () => fsxOnAdapter(seed, {}, { ops: 400, maxFileSize: 256 * 1024, maxOpSize: 40 * 1024 }));
  }

  // A file around the in-memory spool limit: spools move to a local file and back (a reopen refills one) often.
  // Seed 77 also with write-behind: appends stream, anything else aborts the stream.
  for (const [seed, writeBehind] of [[7, false], [77, true]] as const) {
    it(`seed ${seed}: 400 random operations around a 16 KiB in-memory spool${writeBehind ? ', write-behind on' : ''}, zero mismatches`, () =>
      fsxOnAdapter(seed, { spoolMemoryBytes: 16 * 1024, writeBehind }, { ops: 400, maxFileSize: 40 * 1024, maxOpSize: 8 * 1024 }));
  }
});
