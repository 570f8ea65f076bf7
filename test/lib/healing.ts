import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { DfsClient } from '@dfs/client';
import type { TestCluster } from '@dfs/testkit';
import { sha256 } from './files.js';

/** Helpers shared by the self-healing system tests (test/system/healing-*.test.ts). */

export interface PutFile {
  path: string;
  size: number;
  sha: string;
}

/** Puts `count` random files of `minSize..maxSize` bytes under `dir`, `parallel` at a time. */
export async function putRandomFiles(
  client: DfsClient,
  dir: string,
  count: number,
  minSize: number,
  maxSize: number,
  parallel = 6,
  opts: { replication?: number } = {},
): Promise<PutFile[]> {
  const files: PutFile[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const size = minSize + Math.floor(Math.random() * (maxSize - minSize + 1));
      const data = randomBytes(size);
      const path = `${dir}/f${String(i).padStart(3, '0')}`;
      await client.put(Readable.from([data]), path, opts);
      files.push({ path, size, sha: sha256(data) });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Reads every file back and returns the paths whose SHA-256 differs. */
export async function badReads(client: DfsClient, files: PutFile[], parallel = 6): Promise<string[]> {
  const bad: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const f = files[next++];
      if (!f) return;
      const data = await client.readFile(f.path);
      if (data.length !== f.size || sha256(data) !== f.sha) bad.push(f.path);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return bad;
}

export type Fsck = Awaited<ReturnType<typeof fsck>>;

/** The master's fsck through the library (cheaper than spawning the CLI in a polling loop). */
export function fsck(client: DfsClient, path = '/') {
  return client.masters.call((c) => c.fsck, { path, maxProblems: 100_000 });
}

export function status(client: DfsClient) {
  return client.clusterStatus();
}

/** Handles of the committed replicas on a chunkserver's disk (`dir/chunks/<handle>.meta`). */
export function handlesOnDisk(cluster: TestCluster, id: string): Set<number> {
  const out = new Set<number>();
  for (const name of readdirSync(join(cluster.node(id).dir, 'chunks'))) {
    const m = /^(\d+)\.meta$/.exec(name);
    if (m) out.add(Number(m[1]));
  }
  return out;
}

/** Every chunk handle of every file in `files` with its replica ids (from the leader). */
export async function replicaMap(client: DfsClient, files: PutFile[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const f of files) {
    const { chunks } = await client.locate(f.path);
    for (const c of chunks) out.set(c.handle, c.replicas.map((r) => r.id).sort());
  }
  return out;
}
