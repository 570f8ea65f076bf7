import type { Command } from 'commander';
import { DfsError, ErrorCode, FileType, normalizePath, parseDuration, parseSize, type FileStatus } from '@dfs/proto';
import { trashExpunge, trashList, trashRestore, type DfsClient } from '@dfs/client';
import { clientFrom, type ClientFlags } from '../context.js';
import { humanSize, isoTime } from '../format.js';
import { parseIntFlag, withClientFlags } from './shared.js';

/*
 * Users: chmod / chown / chgrp / setrep (with -R), count -q, whoami, the per-user trash,
 * and the superuser's `admin quota` and `admin token`.
 */

/** The path itself, then (with -R) everything below it. */
async function* targets(client: DfsClient, path: string, recursive: boolean): AsyncGenerator<FileStatus> {
  const top = await client.stat(normalizePath(path));
  yield top;
  if (!recursive || top.type !== FileType.DIRECTORY) return;
  const walk = async function* (dir: string): AsyncGenerator<FileStatus> {
    for await (const e of client.list(dir)) {
      yield e;
      if (e.type === FileType.DIRECTORY) yield* walk(e.path);
    }
  };
  yield* walk(top.path);
}

const CLASS_BITS: Record<string, number> = { u: 0o4700, g: 0o2070, o: 0o1007, a: 0o7777 };

/**
 * `755`, `1777`, or symbolic `u+x,go-w,a=r,+t` (as chmod(1), without X/s). Returns the new
 * mode given the current one.
 */
export function applyMode(spec: string, current: number): number {
  if (/^[0-7]{1,4}$/.test(spec)) return parseInt(spec, 8);
  let mode = current & 0o7777;
  for (const clause of spec.split(',')) {
    const m = /^([ugoa]*)([+=-])([rwxt]*)$/.exec(clause);
    if (!m) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `bad mode ${JSON.stringify(spec)} (octal like 750, or like u+x,go-w)`);
    const who = m[1] || 'a';
    let mask = 0;
    for (const c of who) mask |= CLASS_BITS[c]!;
    let bits = 0;
    for (const p of m[3]!) bits |= p === 'r' ? 0o444 : p === 'w' ? 0o222 : p === 'x' ? 0o111 : 0o1000;
    bits &= mask | (m[3]!.includes('t') ? 0o1000 : 0);
    const affected = mask & 0o777;
    if (m[2] === '+') mode |= bits;
    else if (m[2] === '-') mode &= ~bits;
    else mode = (mode & ~affected & ~(m[3]!.includes('t') ? 0o1000 : 0)) | bits;
  }
  return mode;
}

function parseOwner(spec: string): { owner?: string; group?: string } {
  const m = /^([^:]*)(?::(.*))?$/.exec(spec)!;
  const owner = m[1] || undefined;
  const group = m[2] || undefined;
  if (!owner && !group) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `bad owner ${JSON.stringify(spec)} (USER, USER:GROUP or :GROUP)`);
  return { ...(owner ? { owner } : {}), ...(group ? { group } : {}) };
}

type RecFlags = ClientFlags & { recursive?: boolean };

export function registerUserCommands(program: Command): void {
  withClientFlags(
    program
      .command('chmod')
      .description('change permission bits (octal like 750 or 1777, or symbolic like u+x,go-w)')
      .argument('<mode>', 'new mode')
      .argument('<path...>', 'remote paths')
      .option('-R, --recursive', 'everything below each directory too'),
  ).action(async (mode: string, paths: string[], flags: RecFlags) => {
    const client = clientFrom(flags);
    for (const p of paths) {
      for await (const e of targets(client, p, flags.recursive ?? false)) {
        await client.setAttributes(e.path, { mode: applyMode(mode, e.mode) }, { requestId: flags.requestId });
      }
    }
  });

  withClientFlags(
    program
      .command('chown')
      .description('change owner (and group) — the superuser only')
      .argument('<owner>', 'USER, USER:GROUP or :GROUP')
      .argument('<path...>', 'remote paths')
      .option('-R, --recursive', 'everything below each directory too'),
  ).action(async (spec: string, paths: string[], flags: RecFlags) => {
    const client = clientFrom(flags);
    const attrs = parseOwner(spec);
    for (const p of paths) for await (const e of targets(client, p, flags.recursive ?? false)) await client.setAttributes(e.path, attrs, { requestId: flags.requestId });
  });

  withClientFlags(
    program
      .command('chgrp')
      .description('change group (the owner, to one of its groups; or the superuser)')
      .argument('<group>', 'new group')
      .argument('<path...>', 'remote paths')
      .option('-R, --recursive', 'everything below each directory too'),
  ).action(async (group: string, paths: string[], flags: RecFlags) => {
    const client = clientFrom(flags);
    for (const p of paths) for await (const e of targets(client, p, flags.recursive ?? false)) await client.setAttributes(e.path, { group }, { requestId: flags.requestId });
  });

  withClientFlags(
    program
      .command('setrep')
      .description('change the replication of existing files; the master adds or trims replicas')
      .argument('<n>', 'replicas per chunk')
      .argument('<path...>', 'remote paths')
      .option('-R, --recursive', 'every file below each directory (directories are walked anyway)')
      .option('-w, --wait', 'wait until every chunk has exactly N live replicas')
      .option('--wait-timeout <duration>', 'give up waiting after this long', '10m'),
  ).action(async (n: string, paths: string[], flags: RecFlags & { wait?: boolean; waitTimeout: string }) => {
    const client = clientFrom(flags);
    const replication = parseIntFlag(n, 'replication', 0);
    if (replication < 1) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `replication must be at least 1, got ${n}`);
    const files: string[] = [];
    for (const p of paths) {
      // HDFS setrep walks a directory whatever -R says: replication is a property of files.
      for await (const e of targets(client, p, true)) {
        if (e.type !== FileType.FILE) continue;
        await client.setReplication(e.path, replication, { requestId: flags.requestId });
        files.push(e.path);
        process.stdout.write(`Replication ${replication} set: ${e.path}\n`);
      }
    }
    if (!flags.wait) return;
    const deadline = Date.now() + parseDuration(flags.waitTimeout);
    for (const f of files) {
      process.stdout.write(`Waiting for ${f} ...`);
      for (;;) {
        const { chunks } = await client.locate(f);
        if (chunks.every((c) => c.replicas.length === replication)) break;
        if (Date.now() > deadline) throw new DfsError(ErrorCode.DEADLINE_EXCEEDED, `${f}: not every chunk has ${replication} replicas yet`);
        await new Promise((r) => setTimeout(r, 500));
      }
      process.stdout.write(' done\n');
    }
  });

  withClientFlags(
    program
      .command('count')
      .description('directories, files and bytes under paths; -q adds quotas (as hdfs dfs -count -q)')
      .argument('<path...>', 'remote paths')
      .option('-q, --quota', 'name and space quotas, and what remains of them')
      .option('-h, --human', 'human-readable sizes')
      .option('--json', 'JSON output'),
  ).action(async (paths: string[], flags: ClientFlags & { quota?: boolean; human?: boolean; json?: boolean }) => {
    const client = clientFrom(flags);
    const rows = [];
    for (const p of paths) rows.push({ path: normalizePath(p), ...(await client.contentSummary(p)) });
    if (flags.json) {
      process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return;
    }
    const size = (v: number): string => (flags.human ? humanSize(v) : String(v));
    const none = (q: number, f: (v: number) => string): string => (q < 0 ? 'none' : f(q));
    const inf = (q: number, used: number, f: (v: number) => string): string => (q < 0 ? 'inf' : f(q - used));
    if (flags.quota) process.stdout.write(`${'QUOTA'.padStart(12)} ${'REM_QUOTA'.padStart(12)} ${'SPACE_QUOTA'.padStart(14)} ${'REM_SPACE_QUOTA'.padStart(16)} `);
    process.stdout.write(`${'DIR_COUNT'.padStart(10)} ${'FILE_COUNT'.padStart(10)} ${'CONTENT_SIZE'.padStart(14)} PATHNAME\n`);
    for (const r of rows) {
      if (flags.quota) {
        const names = r.files + r.directories;
        process.stdout.write(
          `${none(r.nameQuota, String).padStart(12)} ${inf(r.nameQuota, names, String).padStart(12)} ${none(r.spaceQuota, size).padStart(14)} ${inf(r.spaceQuota, r.spaceConsumed, size).padStart(16)} `,
        );
      }
      process.stdout.write(`${String(r.directories).padStart(10)} ${String(r.files).padStart(10)} ${size(r.length).padStart(14)} ${r.path}\n`);
    }
  });

  withClientFlags(program.command('whoami').description('the user and groups the cluster sees').option('--json', 'JSON output')).action(
    async (flags: ClientFlags & { json?: boolean }) => {
      const me = await clientFrom(flags).whoami();
      if (flags.json) process.stdout.write(JSON.stringify(me, null, 2) + '\n');
      else process.stdout.write(`${me.user} groups=${me.groups.join(',')}${me.superuser ? ' (superuser)' : ''} via=${me.via}\n`);
    },
  );

  const trash = program.command('trash').description('your trash (/user/NAME/.Trash): list, restore, expunge');
  withClientFlags(trash.command('list').description('deleted entries, newest checkpoint first').option('--json', 'JSON output')).action(
    async (flags: ClientFlags & { json?: boolean }) => {
      const entries = await trashList(clientFrom(flags), { requestId: flags.requestId });
      if (flags.json) {
        process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
        return;
      }
      for (const e of entries) {
        const when = e.checkpoint === 'Current' ? 'Current' : isoTime(Number(e.checkpoint));
        process.stdout.write(`${when.padEnd(19)} ${(e.type === FileType.DIRECTORY ? 'dir' : String(e.size)).padStart(12)} ${e.original}  (${e.path})\n`);
      }
    },
  );
  withClientFlags(
    trash
      .command('restore')
      .description('put a deleted entry back where it was (or at --to); never replaces anything')
      .argument('<path>', 'the path it was deleted from, or its path inside the trash')
      .option('--to <dest>', 'restore to this path instead'),
  ).action(async (path: string, flags: ClientFlags & { to?: string }) => {
    const r = await trashRestore(clientFrom(flags), path, { requestId: flags.requestId, ...(flags.to ? { to: flags.to } : {}) });
    process.stdout.write(`restored ${r.from} -> ${r.to}\n`);
  });
  withClientFlags(trash.command('expunge').description('empty your trash now, for good')).action(async (flags: ClientFlags) => {
    const n = await trashExpunge(clientFrom(flags), { requestId: flags.requestId });
    process.stdout.write(`expunged ${n} checkpoint(s)\n`);
  });
}

/** `dfs admin quota …` and `dfs admin token …` (superuser). */
export function registerUserAdminCommands(admin: Command): void {
  const quota = admin.command('quota').description('directory quotas (HDFS): names and space (bytes x replication)');
  withClientFlags(
    quota
      .command('set')
      .description('set a name quota and/or a space quota on a directory')
      .argument('<path>', 'remote directory')
      .option('--files <n>', 'most files + directories below it, itself included')
      .option('--space <size>', 'most bytes x replication below it, e.g. 10GiB'),
  ).action(async (path: string, flags: ClientFlags & { files?: string; space?: string }) => {
    if (flags.files === undefined && flags.space === undefined) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'give --files and/or --space');
    await clientFrom(flags, 'admin').setQuota(path, {
      ...(flags.files !== undefined ? { files: parseIntFlag(flags.files, 'files', 0) } : {}),
      ...(flags.space !== undefined ? { space: parseSize(flags.space) } : {}),
    });
  });
  withClientFlags(quota.command('clear').description('remove both quotas of a directory').argument('<path>', 'remote directory')).action(
    async (path: string, flags: ClientFlags) => {
      await clientFrom(flags, 'admin').clearQuota(path);
    },
  );

  const token = admin.command('token').description('bearer tokens for people without certificates');
  withClientFlags(
    token
      .command('create')
      .description('issue a token; it is printed alone on the last line')
      .requiredOption('--user <name>', 'the user the token acts as')
      .option('--groups <list>', 'its groups, comma-separated (supergroup = superuser)')
      .option('--ttl <duration>', 'lifetime, e.g. 12h or 30d', '30d'),
  ).action(async (flags: ClientFlags & { user: string; groups?: string; ttl: string }) => {
    const groups = (flags.groups ?? flags.user).split(',').map((g) => g.trim()).filter(Boolean);
    const r = await clientFrom(flags, 'admin').createToken(flags.user, groups, parseDuration(flags.ttl));
    process.stdout.write(`# user=${flags.user} groups=${groups.join(',')} id=${r.tokenId} expires=${new Date(r.expiresMs).toISOString()}\n${r.token}\n`);
  });
  withClientFlags(token.command('revoke').description('revoke a token (give the token or its id)').argument('<token>', 'token or id')).action(
    async (tokenOrId: string, flags: ClientFlags) => {
      const id = await clientFrom(flags, 'admin').revokeToken(tokenOrId);
      process.stdout.write(`revoked ${id}\n`);
    },
  );
}
