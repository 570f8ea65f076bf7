import { setMaxListeners } from 'node:events';
import { readdir, stat as fsStat, mkdir as fsMkdir, symlink as fsSymlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { FileType, joinPath, normalizePath, DfsError, ErrorCode, toDfsError } from '@dfs/proto';
import type { DfsClient } from '@dfs/client';
import { clientFrom, type ClientFlags } from '../context.js';
import { Progress } from '../progress.js';
import { parseIntFlag, withClientFlags } from './shared.js';

interface PutFlags extends ClientFlags {
  overwrite?: boolean;
  replication?: string;
  recursive?: boolean;
  quiet?: boolean;
  chunkSize?: string;
  minReplicas?: string;
}

/** Where `put LOCAL REMOTE` lands: into REMOTE if it is an existing directory, else at REMOTE. */
async function putTarget(client: DfsClient, local: string, remote: string): Promise<string> {
  const path = normalizePath(remote);
  const existing = await client.tryStat(path);
  if (existing?.type === FileType.DIRECTORY && local !== '-') return joinPath(path, basename(local));
  return path;
}

/**
 * Runs one upload with a progress bar; ^C aborts it, so the file is never left
 * visible half-written (a put) or with a torn tail (an append).
 */
async function transfer(
  label: string,
  size: number,
  quiet: boolean,
  run: (signal: AbortSignal, onProgress: (n: number) => void) => Promise<{ size: number }>,
): Promise<void> {
  const progress = new Progress(label, size, quiet);
  const controller = new AbortController();
  // Every chunk and RPC in flight listens on this one signal.
  setMaxListeners(0, controller.signal);
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    const status = await run(controller.signal, (n) => progress.update(n));
    progress.finish(status.size);
  } catch (err) {
    progress.abort();
    throw err;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

async function putOne(client: DfsClient, local: string, remote: string, flags: PutFlags, size: number): Promise<void> {
  await transfer(`put ${remote}`, size, flags.quiet ?? false, (signal, onProgress) =>
    client.put(local === '-' ? process.stdin : local, remote, {
      overwrite: flags.overwrite ?? false,
      replication: parseIntFlag(flags.replication, 'replication', 0),
      chunkSize: parseIntFlag(flags.chunkSize, 'chunk-size', 0),
      ...minReplicasOf(flags),
      signal,
      requestId: flags.requestId,
      onProgress,
    }),
  );
}

function minReplicasOf(flags: { minReplicas?: string }): { minReplicas?: number } {
  if (flags.minReplicas === undefined) return {};
  const n = parseIntFlag(flags.minReplicas, 'min-replicas', 0);
  if (n < 1) throw new DfsError(ErrorCode.INVALID_ARGUMENT, '--min-replicas must be at least 1');
  return { minReplicas: n };
}

async function appendOne(client: DfsClient, local: string, remote: string, flags: PutFlags, size: number): Promise<void> {
  await transfer(`append ${remote}`, size, flags.quiet ?? false, (signal, onProgress) =>
    client.append(local === '-' ? process.stdin : local, remote, { ...minReplicasOf(flags), signal, requestId: flags.requestId, onProgress }),
  );
}

async function putTree(client: DfsClient, localDir: string, remoteDir: string, flags: PutFlags): Promise<number> {
  await client.mkdir(remoteDir, { parents: true });
  let count = 0;
  for (const entry of await readdir(localDir, { withFileTypes: true })) {
    const local = join(localDir, entry.name);
    const remote = joinPath(remoteDir, entry.name);
    if (entry.isDirectory()) count += await putTree(client, local, remote, flags);
    else if (entry.isFile()) {
      await client.put(local, remote, { overwrite: flags.overwrite ?? false, replication: parseIntFlag(flags.replication, 'replication', 0), requestId: flags.requestId });
      count++;
    }
  }
  return count;
}

async function getTree(client: DfsClient, remoteDir: string, localDir: string, flags: ClientFlags): Promise<number> {
  await fsMkdir(localDir, { recursive: true });
  let count = 0;
  for await (const entry of client.list(remoteDir)) {
    const local = join(localDir, entry.name);
    if (entry.type === FileType.DIRECTORY) count += await getTree(client, entry.path, local, flags);
    else if (entry.type === FileType.SYMLINK) {
      await fsSymlink(entry.symlinkTarget, local); // as cp -r: the link itself, never followed
      count++;
    } else if (entry.type !== FileType.FILE) {
      process.stderr.write(`dfs: skipped ${entry.path}: a special file (metadata only, nothing to copy)\n`);
    } else {
      await client.get(entry.path, local, { requestId: flags.requestId });
      count++;
    }
  }
  return count;
}

export function registerDataCommands(program: Command): void {
  withClientFlags(
    program
      .command('put')
      .description('copy a local file (or - for stdin, or a directory with -r) into the cluster')
      .argument('<local>', 'local file, directory (with -r) or - for stdin')
      .argument('<remote>', 'remote path (missing parent directories are created)')
      .option('-f, --overwrite', 'replace an existing file atomically')
      .option('--replication <n>', 'replication factor (default: cluster default)')
      .option('--chunk-size <bytes>', 'chunk size for this file')
      .option('--min-replicas <n>', 'fewest replicas each chunk must reach durably (default: the replication factor)')
      .option('-r, --recursive', 'copy a directory tree')
      .option('-q, --quiet', 'no progress bar or summary')
      .addHelpText('after', '\nExamples:\n  dfs put ./data.bin /datasets/data.bin\n  tar c dir | dfs put - /backups/dir.tar\n  dfs put -r ./photos /photos'),
  ).action(async (local: string, remote: string, flags: PutFlags) => {
    const client = clientFrom(flags);
    if (local === '-') return putOne(client, '-', normalizePath(remote), flags, 0);
    const info = await fsStat(local).catch((err: unknown) => {
      throw new DfsError(ErrorCode.NOT_FOUND, `${local}: ${toDfsError(err).message.includes('ENOENT') ? 'no such local file' : toDfsError(err).message}`);
    });
    if (info.isDirectory()) {
      if (!flags.recursive) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${local}: is a directory (use -r to copy a tree)`);
      const target = await putTarget(client, local, remote);
      const n = await putTree(client, local, target, flags);
      if (!flags.quiet) process.stderr.write(`put ${target}: ${n} files\n`);
      return;
    }
    await putOne(client, local, await putTarget(client, local, remote), flags, info.size);
  });

  withClientFlags(
    program
      .command('append')
      .description('add a local file (or - for stdin) at the end of an existing remote file')
      .argument('<local>', 'local file or - for stdin')
      .argument('<remote>', 'existing remote file')
      .option('--min-replicas <n>', 'fewest replicas each chunk must reach durably (default: the replication factor)')
      .option('-q, --quiet', 'no progress bar or summary')
      .addHelpText(
        'after',
        '\nOne writer per file: while another client writes or appends to it, append fails with LEASE_HELD.\n' +
          'Readers see the old length until the append completes; a failed append leaves the file unchanged.\n' +
          '\nExamples:\n  dfs append ./today.log /logs/all.log\n  echo line | dfs append - /logs/all.log',
      ),
  ).action(async (local: string, remote: string, flags: PutFlags) => {
    const client = clientFrom(flags);
    const path = normalizePath(remote);
    if (local === '-') return appendOne(client, '-', path, flags, 0);
    const info = await fsStat(local).catch((err: unknown) => {
      throw new DfsError(ErrorCode.NOT_FOUND, `${local}: ${toDfsError(err).message.includes('ENOENT') ? 'no such local file' : toDfsError(err).message}`);
    });
    if (info.isDirectory()) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${local}: is a directory`);
    await appendOne(client, local, path, flags, info.size);
  });

  withClientFlags(
    program
      .command('get')
      .description('copy a file (or a directory with -r) out of the cluster; - writes to stdout')
      .argument('<remote>', 'remote path')
      .argument('[local]', 'local path, directory, or - for stdout (default: the remote name)')
      .option('-r, --recursive', 'copy a directory tree')
      .option('-q, --quiet', 'no progress bar or summary')
      .addHelpText('after', '\nExamples:\n  dfs get /datasets/data.bin ./data.bin\n  dfs get /logs/today.log - | grep ERROR'),
  ).action(async (remote: string, local: string | undefined, flags: ClientFlags & { recursive?: boolean; quiet?: boolean }) => {
    const client = clientFrom(flags);
    const path = normalizePath(remote);
    const status = await client.stat(path);
    let target = local ?? (basename(path) || '.');
    if (status.type === FileType.DIRECTORY) {
      if (!flags.recursive) throw new DfsError(ErrorCode.IS_A_DIRECTORY, `${path}: is a directory (use -r to copy a tree)`);
      const n = await getTree(client, path, target, flags);
      if (!flags.quiet) process.stderr.write(`get ${path}: ${n} files\n`);
      return;
    }
    if (target === '-') {
      await client.get(path, process.stdout, { requestId: flags.requestId });
      return;
    }
    const localInfo = await fsStat(target).catch(() => undefined);
    if (localInfo?.isDirectory()) target = join(target, basename(path));
    const progress = new Progress(`get ${path}`, status.size, flags.quiet ?? false);
    try {
      await client.get(path, target, { requestId: flags.requestId, onProgress: (n) => progress.update(n) });
      progress.finish(status.size);
    } catch (err) {
      progress.abort();
      throw err;
    }
  });

  withClientFlags(
    program
      .command('cat')
      .description('write files to stdout')
      .argument('<remote...>', 'remote files'),
  ).action(async (remotes: string[], flags: ClientFlags) => {
    const client = clientFrom(flags);
    for (const remote of remotes) await client.get(remote, process.stdout, { requestId: flags.requestId });
  });
}
