import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Command } from 'commander';
import { humanSize } from '../format.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { withClientFlags } from './shared.js';

// @dfs/master (SQLite) loads only for the backup commands, which verify the file with it.
const loadMaster = (): typeof import('@dfs/master') => require('@dfs/master') as typeof import('@dfs/master');

type Header = Awaited<ReturnType<ReturnType<typeof loadMaster>['verifyBackup']>>;

function describe(h: Header): string {
  return `cluster ${h.clusterId || '(unnamed)'}, applied index ${h.appliedIndex}, schema ${h.schemaVersion}, taken ${h.createdAt} on ${h.master}, ${humanSize(h.bytes)}, sha256 ${h.sha256.slice(0, 16)}…`;
}

/** `dfs admin backup FILE` and `dfs admin backup --verify FILE`. */
export function registerBackupCommands(admin: Command): void {
  withClientFlags(
    admin
      .command('backup')
      .description('write a consistent, checksummed copy of the metadata to FILE (from a caught-up follower when there is one); --verify checks a file')
      .argument('<file>', 'the backup file')
      .option('--verify', 'check FILE (header, length, sha256, SQLite integrity) instead of taking a backup')
      .option('--json', 'JSON output'),
  ).action(async (file: string, flags: ClientFlags & { verify?: boolean; json?: boolean }) => {
    const { verifyBackup } = loadMaster();
    if (flags.verify) {
      const header = await verifyBackup(file);
      process.stdout.write(flags.json ? JSON.stringify({ ok: true, ...header }) + '\n' : `ok: ${describe(header)}\n`);
      return;
    }
    const partial = `${file}.partial`;
    try {
      const { from } = await clientFrom(flags, 'admin').backupMetadata(() => createWriteStream(partial));
      const header = await verifyBackup(partial); // what landed here is what the master hashed
      await rename(partial, file);
      process.stdout.write(flags.json ? JSON.stringify({ file, from, ...header }) + '\n' : `${file}: ${describe(header)} (from ${from.id}, ${from.role})\n`);
    } finally {
      await rm(partial, { force: true });
    }
  });
}
