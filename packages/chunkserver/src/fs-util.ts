import { open, unlink, rename } from 'node:fs/promises';

/** fsync a directory so that renames and unlinks inside it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Unlinks a file, ignoring "does not exist". */
export async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Renames, ignoring a missing source. Returns whether anything moved. */
export async function renameQuiet(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? ((err as NodeJS.ErrnoException).code ?? undefined) : undefined;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(limit, items.length); w++) {
    workers.push(
      (async () => {
        while (next < items.length) await fn(items[next++]!);
      })(),
    );
  }
  await Promise.all(workers);
}
