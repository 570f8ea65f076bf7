import { open, type FileHandle } from 'node:fs/promises';
import { Prng } from './prng.js';

/**
 * An fsx-style exerciser (after the classic BSD/Apple fsx): seeded random writes,
 * truncates, reads and close/reopen cycles on one file, each checked against an
 * in-memory model of what the file must contain.
 */

/** What fsx drives: one open file. */
export interface FsxTarget {
  write(data: Buffer, pos: number): Promise<void>;
  truncate(size: number): Promise<void>;
  read(len: number, pos: number): Promise<Buffer>;
  size(): Promise<number>;
  /** Close (committing) and open again. */
  reopen(): Promise<void>;
}

export interface FsxOptions {
  ops: number;
  maxFileSize: number;
  maxOpSize: number;
}

export interface FsxResult {
  mismatches: number;
  /** The first few mismatches, for the failure message. */
  reports: string[];
  opsRun: number;
  /** What the file must hold at the end (the model). */
  expected: Buffer;
}

export async function runFsx(seed: number, target: FsxTarget, opts: FsxOptions): Promise<FsxResult> {
  const prng = new Prng(seed);
  const rand = prng.next;
  const int = (n: number): number => prng.int(n);
  let model = Buffer.alloc(0);
  const reports: string[] = [];
  let mismatches = 0;
  const report = (what: string): void => {
    mismatches++;
    if (reports.length < 5) reports.push(`seed ${seed}: ${what}`);
  };
  const check = async (op: number, len: number, pos: number): Promise<void> => {
    const got = await target.read(len, pos);
    const want = model.subarray(Math.min(pos, model.length), Math.min(model.length, pos + len));
    if (!got.equals(want)) {
      let at = 0;
      while (at < Math.min(got.length, want.length) && got[at] === want[at]) at++;
      report(`op ${op}: read ${len}@${pos} got ${got.length} bytes, want ${want.length}; first difference at +${at}`);
    }
  };

  for (let op = 0; op < opts.ops; op++) {
    const kind = rand();
    if (kind < 0.4) {
      const pos = int(opts.maxFileSize);
      const len = Math.min(1 + int(opts.maxOpSize), opts.maxFileSize - pos);
      const data = Buffer.alloc(len);
      for (let i = 0; i < len; i++) data[i] = (op * 31 + i * 7 + seed) & 0xff;
      await target.write(data, pos);
      if (pos + len > model.length) model = Buffer.concat([model, Buffer.alloc(pos + len - model.length)]);
      data.copy(model, pos);
    } else if (kind < 0.55) {
      const size = rand() < 0.2 ? 0 : int(opts.maxFileSize);
      await target.truncate(size);
      model = size <= model.length ? Buffer.from(model.subarray(0, size)) : Buffer.concat([model, Buffer.alloc(size - model.length)]);
    } else if (kind < 0.85) {
      await check(op, 1 + int(opts.maxOpSize), int(Math.max(1, model.length + 100)));
    } else if (kind < 0.95) {
      const size = await target.size();
      if (size !== model.length) report(`op ${op}: size ${size}, want ${model.length}`);
    } else {
      await target.reopen();
    }
  }
  await target.reopen();
  await check(opts.ops, model.length + 10, 0);
  return { mismatches, reports, opsRun: opts.ops, expected: model };
}

/** fsx through the kernel: a real file descriptor on `path` (a file on a mount). */
export function fileTarget(path: string): FsxTarget & { close(): Promise<void> } {
  let fh: FileHandle | undefined;
  const ensure = async (): Promise<FileHandle> => (fh ??= await open(path, 'r+'));
  return {
    write: async (data, pos) => {
      await (await ensure()).write(data, 0, data.length, pos);
    },
    truncate: async (size) => (await ensure()).truncate(size),
    read: async (len, pos) => {
      const out = Buffer.alloc(len);
      let done = 0;
      while (done < len) {
        const { bytesRead } = await (await ensure()).read(out, done, len - done, pos + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out.subarray(0, done);
    },
    size: async () => (await (await ensure()).stat()).size,
    reopen: async () => {
      await fh?.close();
      fh = await open(path, 'r+');
    },
    close: async () => {
      await fh?.close();
      fh = undefined;
    },
  };
}
