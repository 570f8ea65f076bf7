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
}

/** mulberry32: small, fast, good enough for test schedules. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function runFsx(seed: number, target: FsxTarget, opts: FsxOptions): Promise<FsxResult> {
  const rand = prng(seed);
  const int = (n: number): number => Math.floor(rand() * n);
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
  return { mismatches, reports, opsRun: opts.ops };
}
