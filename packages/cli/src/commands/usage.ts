import type { Command } from 'commander';
import { FileType, normalizePath, type FileStatus } from '@dfs/proto';
import type { DfsClient } from '@dfs/client';
import { clientFrom, type ClientFlags } from '../context.js';
import { humanSize } from '../format.js';
import { destinationPath, withClientFlags } from './shared.js';

interface Usage {
  path: string;
  bytes: number;
  /** Bytes stored counting every replica. */
  rawBytes: number;
  files: number;
  dirs: number;
}

async function usageOf(client: DfsClient, entry: FileStatus): Promise<Usage> {
  if (entry.type !== FileType.DIRECTORY) {
    return { path: entry.path, bytes: entry.size, rawBytes: entry.size * entry.replication, files: 1, dirs: 0 };
  }
  const total: Usage = { path: entry.path, bytes: 0, rawBytes: 0, files: 0, dirs: 1 };
  for await (const child of client.list(entry.path)) {
    const u = await usageOf(client, child);
    total.bytes += u.bytes;
    total.rawBytes += u.rawBytes;
    total.files += u.files;
    total.dirs += u.dirs;
  }
  return total;
}

export function registerUsageCommands(program: Command): void {
  withClientFlags(
    program
      .command('du')
      .description('space used by files and directories')
      .argument('[path...]', 'remote paths', ['/'])
      .option('-s, --summarize', 'one total per argument instead of one line per child')
      .option('-h, --human', 'human-readable sizes')
      .option('--json', 'JSON output'),
  ).action(async (paths: string[], flags: ClientFlags & { summarize?: boolean; human?: boolean; json?: boolean }) => {
    const client = clientFrom(flags);
    const results: Usage[] = [];
    for (const p of paths) {
      const status = await client.stat(normalizePath(p));
      if (flags.summarize || status.type !== FileType.DIRECTORY) results.push(await usageOf(client, status));
      else for await (const child of client.list(status.path)) results.push(await usageOf(client, child));
    }
    if (flags.json) {
      process.stdout.write(JSON.stringify(results, null, 2) + '\n');
      return;
    }
    for (const u of results) {
      const size = flags.human ? humanSize(u.bytes) : String(u.bytes);
      const raw = flags.human ? humanSize(u.rawBytes) : String(u.rawBytes);
      process.stdout.write(`${size.padEnd(12)} ${raw.padEnd(12)} ${u.path}\n`);
    }
  });

  withClientFlags(
    program
      .command('df')
      .description('cluster capacity, used and free space')
      .option('-h, --human', 'human-readable sizes')
      .option('--json', 'JSON output'),
  ).action(async (flags: ClientFlags & { human?: boolean; json?: boolean }) => {
    const status = await clientFrom(flags).clusterStatus();
    const live = status.chunkservers.filter((c) => c.state === 'live');
    const sum = (f: (c: (typeof live)[number]) => number): number => live.reduce((n, c) => n + f(c), 0);
    const df = {
      capacity: sum((c) => c.capacityBytes),
      used: sum((c) => c.usedBytes),
      free: sum((c) => c.freeBytes),
      liveChunkservers: live.length,
      chunkservers: status.chunkservers.length,
    };
    if (flags.json) {
      process.stdout.write(JSON.stringify(df, null, 2) + '\n');
      return;
    }
    const f = (n: number): string => (flags.human ? humanSize(n) : String(n));
    const pct = df.capacity ? Math.round((100 * df.used) / df.capacity) : 0;
    process.stdout.write(`${'Size'.padEnd(14)} ${'Used'.padEnd(14)} ${'Available'.padEnd(14)} Use%  Chunkservers\n`);
    process.stdout.write(`${f(df.capacity).padEnd(14)} ${f(df.used).padEnd(14)} ${f(df.free).padEnd(14)} ${String(pct).padStart(3)}%  ${df.liveChunkservers}/${df.chunkservers} live\n`);
  });

  withClientFlags(
    program
      .command('cp')
      .description('copy a file inside the cluster')
      .argument('<src>', 'remote source file')
      .argument('<dst>', 'remote destination (into it, if it is a directory)')
      .option('-f, --overwrite', 'replace an existing destination file'),
  ).action(async (src: string, dst: string, flags: ClientFlags & { overwrite?: boolean }) => {
    const client = clientFrom(flags);
    const from = normalizePath(src);
    const source = await client.stat(from);
    const target = await destinationPath(client, from, dst);
    await client.put(client.createReadStream(from, { requestId: flags.requestId }), target, {
      overwrite: flags.overwrite ?? false,
      replication: source.replication,
      requestId: flags.requestId,
    });
  });
}
