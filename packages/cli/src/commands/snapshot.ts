import type { Command } from 'commander';
import { restoreSnapshot } from '@dfs/client';
import { humanSize } from '../format.js';
import { clientFrom, type ClientFlags } from '../context.js';
import { withClientFlags } from './shared.js';

const DIFF_MARK: Record<string, string> = { created: '+', deleted: '-', modified: 'M', renamed: 'R' };

/** `dfs snapshot allow|disallow|create|list|delete|diff|restore` (HDFS directory snapshots). */
export function registerSnapshotCommands(program: Command): void {
  const snap = program
    .command('snapshot')
    .description('directory snapshots (HDFS semantics): read-only copies under DIR/.snapshot/NAME that share chunks with the live files');

  withClientFlags(snap.command('allow').description('let DIR have snapshots (superuser)').argument('<dir>')).action(async (dir: string, flags: ClientFlags) => {
    await clientFrom(flags).snapshot('allow', dir, { requestId: flags.requestId });
    process.stdout.write(`${dir}: snapshots allowed\n`);
  });
  withClientFlags(snap.command('disallow').description('no more snapshots of DIR (it must have none; superuser)').argument('<dir>')).action(async (dir: string, flags: ClientFlags) => {
    await clientFrom(flags).snapshot('disallow', dir, { requestId: flags.requestId });
    process.stdout.write(`${dir}: snapshots disallowed\n`);
  });
  withClientFlags(snap.command('create').description('take a snapshot of DIR (its owner; default name s<UTC time>)').argument('<dir>').argument('[name]')).action(
    async (dir: string, name: string | undefined, flags: ClientFlags) => {
      const res = await clientFrom(flags).snapshot('create', dir, { ...(name ? { name } : {}), requestId: flags.requestId });
      const s = res.snapshots[0];
      process.stdout.write(`${s ? `${s.path === '/' ? '' : s.path}/.snapshot/${s.name}` : dir}\n`);
    },
  );
  withClientFlags(snap.command('delete').description('delete snapshot NAME of DIR (its chunks are then collected unless something else holds them)').argument('<dir>').argument('<name>')).action(
    async (dir: string, name: string, flags: ClientFlags) => {
      await clientFrom(flags).snapshot('delete', dir, { name, requestId: flags.requestId });
      process.stdout.write(`deleted ${name} of ${dir}\n`);
    },
  );
  withClientFlags(snap.command('list').description('snapshots of DIR, or of every snapshottable directory').argument('[dir]').option('--json', 'JSON output')).action(
    async (dir: string | undefined, flags: ClientFlags & { json?: boolean }) => {
      const res = await clientFrom(flags).snapshot('list', dir ?? '');
      if (flags.json) {
        process.stdout.write(JSON.stringify({ snapshots: res.snapshots, ...(dir ? {} : { snapshottable: res.snapshottable }) }, null, 2) + '\n');
        return;
      }
      for (const s of res.snapshots) {
        process.stdout.write(`${new Date(s.createdMs).toISOString()}  ${String(s.files).padStart(7)} files ${humanSize(s.bytes).padStart(9)}  ${s.path === '/' ? '' : s.path}/.snapshot/${s.name}\n`);
      }
      if (!dir) for (const d of res.snapshottable.filter((p) => !res.snapshots.some((s) => s.path === p))) process.stdout.write(`(no snapshots)  ${d}\n`);
    },
  );
  withClientFlags(
    snap
      .command('diff')
      .description('what changed in DIR from snapshot FROM to snapshot TO (default: now): + created, - deleted, M modified, R renamed')
      .argument('<dir>')
      .argument('<from>')
      .argument('[to]')
      .option('--json', 'JSON output'),
  ).action(async (dir: string, from: string, to: string | undefined, flags: ClientFlags & { json?: boolean }) => {
    const res = await clientFrom(flags).snapshot('diff', dir, { name: from, ...(to ? { toName: to } : {}) });
    if (flags.json) {
      process.stdout.write(JSON.stringify(res.diff, null, 2) + '\n');
      return;
    }
    for (const d of res.diff) process.stdout.write(`${DIFF_MARK[d.kind] ?? '?'} ${d.path}${d.kind === 'renamed' ? ` -> ${d.target}` : ''}\n`);
  });
  withClientFlags(
    snap
      .command('restore')
      .description('copy snapshot NAME of DIR back into DIR (or --to DEST): changed files replaced, missing ones created, newer ones kept; a copy, it shares no chunks')
      .argument('<dir>')
      .argument('<name>')
      .option('--to <dest>', 'restore into this directory instead'),
  ).action(async (dir: string, name: string, flags: ClientFlags & { to?: string }) => {
    const r = await restoreSnapshot(clientFrom(flags), dir, name, flags.to);
    process.stdout.write(`restored ${name} of ${dir} into ${flags.to ?? dir}: ${r.files} files (${humanSize(r.bytes)}) copied, ${r.unchanged} unchanged, ${r.dirs} directories\n`);
  });
}
