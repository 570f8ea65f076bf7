import { FileType, joinPath, normalizePath } from '@dfs/proto';
import type { DfsClient } from './client.js';

/** Where snapshot NAME of DIR is read: DIR/.snapshot/NAME (read-only). */
export function snapshotPath(dir: string, name: string): string {
  return joinPath(joinPath(normalizePath(dir), '.snapshot'), name);
}

/** True when the live file at `dst` still has the snapshot file's chunks (same handles and lengths) or inline bytes. */
async function sameContent(client: DfsClient, src: string, dst: string): Promise<boolean> {
  const live = await client.tryStat(dst);
  if (!live || live.type !== FileType.FILE) return false;
  const [a, b] = await Promise.all([client.locate(src), client.locate(dst)]);
  if (a.inline || b.inline) return a.inline !== undefined && b.inline !== undefined && a.inline.equals(b.inline);
  return a.chunks.length === b.chunks.length && a.chunks.every((c, i) => c.handle === b.chunks[i]!.handle && c.length === b.chunks[i]!.length);
}

/**
 * `dfs snapshot restore DIR NAME [--to DEST]`: copies the snapshot's tree into DEST (default
 * DIR itself), replacing files whose bytes differ and creating what is missing; files created
 * since the snapshot are left alone. The bytes are copied through the client: the restored
 * files get new chunks (a copy does not share chunks with the snapshot; the snapshot itself
 * keeps sharing its chunks with whatever still holds them).
 */
export async function restoreSnapshot(client: DfsClient, dir: string, name: string, dest?: string): Promise<{ files: number; dirs: number; bytes: number; unchanged: number }> {
  const from = snapshotPath(dir, name);
  const to = normalizePath(dest ?? dir);
  const out = { files: 0, dirs: 0, bytes: 0, unchanged: 0 };
  await client.stat(from); // NOT_FOUND for a missing snapshot, before anything is written
  const walk = async (src: string, dst: string): Promise<void> => {
    await client.mkdir(dst, { parents: true });
    out.dirs++;
    for await (const e of client.list(src)) {
      const s = joinPath(src, e.name);
      const d = joinPath(dst, e.name);
      if (e.type === FileType.DIRECTORY) {
        await walk(s, d);
        continue;
      }
      if (await sameContent(client, s, d)) {
        out.unchanged++;
        continue;
      }
      await client.put(client.createReadStream(s), d, { overwrite: true, replication: e.replication });
      out.files++;
      out.bytes += e.size;
    }
  };
  await walk(from, to);
  return out;
}
