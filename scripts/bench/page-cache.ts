import { closeSync, existsSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';

/*
 * What this machine charges for a write into the page cache: the copy every write path here
 * makes (each chunkserver's chunk files, the mount's spool, the kernel's cache of a file
 * written through FUSE). Prints the system CPU seconds of each GiB of a new file, then of the
 * same file written again right after it was deleted.
 *
 * On a virtual machine that hands memory the guest freed back to its host (free page
 * reporting), the first touch of that memory faults in the host: the GiBs past the kernel's
 * pool of recently freed memory cost 2–5 s each here, against ~0.2 s for memory freed a
 * moment ago. How large that pool is depends on what ran just before, so read the series, not
 * one figure.
 *
 *   node scripts/bench/dist/page-cache.js [GiB, default 6 and at most a quarter of memory]
 */

const GIB = 1024 ** 3;
const PIECE = 128 * 1024;

/** System CPU seconds of each GiB written to a new file at `path`, 128 KiB per write(2); the file is removed. */
function writeNewFile(path: string, gibs: number): number[] {
  const piece = Buffer.alloc(PIECE, 0x5a);
  const fd = openSync(path, 'w');
  try {
    const costs: number[] = [];
    for (let gib = 0; gib < gibs; gib++) {
      const before = process.cpuUsage().system;
      for (let pos = 0; pos < GIB; pos += PIECE) writeSync(fd, piece, 0, PIECE, gib * GIB + pos);
      costs.push((process.cpuUsage().system - before) / 1e6);
    }
    return costs;
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

function main(): void {
  const asked = Number(process.argv[2] ?? 6);
  if (!Number.isInteger(asked) || asked < 1) throw new Error(`GiB must be a positive integer, not ${process.argv[2]}`);
  const gibs = Math.min(asked, Math.max(1, Math.floor(totalmem() / 4 / GIB)));
  // tmpfs: the same page cache, without a disk to write back to.
  const path = join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), `page-cache-probe-${process.pid}`);
  const show = (costs: number[]): string => costs.map((c) => c.toFixed(2)).join(' ');
  console.log(`page-cache write, system CPU s per GiB, new file of ${gibs} GiB:  ${show(writeNewFile(path, gibs))}`);
  console.log(`the same, right after deleting it:                    ${show(writeNewFile(path, gibs))}`);
}

try {
  main();
} catch (err) {
  console.error(`bench/page-cache: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
