import type { Command } from 'commander';
import { DfsError, ErrorCode, FileType, normalizePath, type FileStatus } from '@dfs/proto';
import type { DfsClient } from '@dfs/client';
import { clientFrom, type ClientFlags } from '../context.js';
import { humanSize, isoTime, linkSuffix, modeString, statusJson } from '../format.js';
import { destinationPath, withClientFlags } from './shared.js';

interface LsFlags extends ClientFlags {
  long?: boolean;
  recursive?: boolean;
  human?: boolean;
  json?: boolean;
  staleOk?: boolean;
}

function formatLong(entry: FileStatus, human: boolean): string {
  const size = human ? humanSize(entry.size) : String(entry.size);
  const repl = entry.type === FileType.DIRECTORY ? '-' : String(entry.replication);
  return `${modeString(entry)} ${repl.padStart(2)} ${entry.owner.padEnd(8)} ${entry.group.padEnd(10)} ${size.padStart(human ? 6 : 12)} ${isoTime(entry.mtimeMs)} ${entry.path}${linkSuffix(entry)}`;
}

async function* walk(client: DfsClient, path: string, recursive: boolean, staleOk: boolean): AsyncGenerator<FileStatus> {
  for await (const entry of client.list(path, { staleOk })) {
    yield entry;
    if (recursive && entry.type === FileType.DIRECTORY) yield* walk(client, entry.path, true, staleOk);
  }
}

export function registerNamespaceCommands(program: Command): void {
  withClientFlags(
    program
      .command('ls')
      .description('list a directory (or show one file)')
      .argument('[path]', 'remote path', '/')
      .option('-l, --long', 'mode, replication, owner, group, size, mtime')
      .option('-R, --recursive', 'list subdirectories too')
      .option('-h, --human', 'human-readable sizes')
      .option('--json', 'one JSON array of entries')
      .option('--stale-ok', 'read from any master, possibly a little behind (no ReadIndex round)'),
  ).action(async (path: string, flags: LsFlags) => {
    const client = clientFrom(flags);
    const target = normalizePath(path);
    const staleOk = flags.staleOk ?? false;
    const status = await client.stat(target, { staleOk });
    const entries: AsyncIterable<FileStatus> =
      status.type === FileType.DIRECTORY ? walk(client, target, flags.recursive ?? false, staleOk) : (async function* () { yield status; })();
    if (flags.json) {
      const out: Array<Record<string, unknown>> = [];
      for await (const e of entries) out.push(statusJson(e));
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      return;
    }
    for await (const e of entries) {
      const name = flags.recursive || status.type !== FileType.DIRECTORY ? e.path : e.name;
      process.stdout.write((flags.long ? formatLong(e, flags.human ?? false) : name + (e.type === FileType.DIRECTORY ? '/' : '')) + '\n');
    }
  });

  withClientFlags(
    program
      .command('mkdir')
      .description('create a directory')
      .argument('<path...>', 'remote directories')
      .option('-p, --parents', 'create missing parents; no error if it exists'),
  ).action(async (paths: string[], flags: ClientFlags & { parents?: boolean }) => {
    const client = clientFrom(flags);
    for (const path of paths) await client.mkdir(path, { parents: flags.parents ?? false, requestId: flags.requestId });
  });

  withClientFlags(
    program
      .command('rm')
      .description('remove files or directories (to the trash unless --skip-trash)')
      .argument('<path...>', 'remote paths')
      .option('-r, --recursive', 'remove directories and their contents')
      .option('--skip-trash', 'delete at once instead of moving to the trash'),
  ).action(async (paths: string[], flags: ClientFlags & { recursive?: boolean; skipTrash?: boolean }) => {
    const client = clientFrom(flags);
    for (const path of paths) await client.rm(path, { recursive: flags.recursive ?? false, skipTrash: flags.skipTrash ?? false, requestId: flags.requestId });
  });

  withClientFlags(
    program
      .command('rmdir')
      .description('remove empty directories (NOT_EMPTY otherwise; use rm -r)')
      .argument('<path...>', 'remote directories'),
  ).action(async (paths: string[], flags: ClientFlags) => {
    const client = clientFrom(flags);
    for (const path of paths) {
      const s = await client.stat(path);
      if (s.type !== FileType.DIRECTORY) throw new DfsError(ErrorCode.NOT_A_DIRECTORY, `${s.path}: not a directory`);
      // Non-recursive: the master refuses a directory that is not empty (also one filled meanwhile).
      await client.rm(path, { recursive: false, skipTrash: true, requestId: flags.requestId });
    }
  });

  withClientFlags(
    program
      .command('mv')
      .description('rename or move a file or directory (atomic)')
      .argument('<src>', 'remote source')
      .argument('<dst>', 'remote destination (into it, if it is a directory)')
      .option('-f, --overwrite', 'replace an existing destination file'),
  ).action(async (src: string, dst: string, flags: ClientFlags & { overwrite?: boolean }) => {
    const client = clientFrom(flags);
    const target = await destinationPath(client, src, dst);
    await client.mv(src, target, { overwrite: flags.overwrite ?? false, requestId: flags.requestId });
  });

  withClientFlags(
    program
      .command('ln')
      .description('make a hard link (or with -s a symbolic link) to TARGET named LINK; never follows symlinks')
      .argument('<target>', 'remote file (with -s: any text, stored as the link\'s target)')
      .argument('<link>', 'remote path of the new name')
      .option('-s, --symbolic', 'a symbolic link instead of a hard link'),
  ).action(async (target: string, link: string, flags: ClientFlags & { symbolic?: boolean }) => {
    const client = clientFrom(flags);
    if (flags.symbolic) await client.symlink(target, link, { requestId: flags.requestId });
    else await client.link(target, link, { requestId: flags.requestId });
  });

  withClientFlags(
    program
      .command('stat')
      .description('show a file or directory')
      .argument('<path>', 'remote path')
      .option('--json', 'JSON output')
      .option('--stale-ok', 'read from any master, possibly a little behind (no ReadIndex round)'),
  ).action(async (path: string, flags: ClientFlags & { json?: boolean; staleOk?: boolean }) => {
    const client = clientFrom(flags);
    const s = await client.stat(path, { staleOk: flags.staleOk ?? false });
    const json = statusJson(s);
    if (flags.json) {
      process.stdout.write(JSON.stringify(json, null, 2) + '\n');
      return;
    }
    for (const [k, v] of Object.entries(json)) process.stdout.write(`${(k + ':').padEnd(19)} ${String(v)}\n`);
  });
}
