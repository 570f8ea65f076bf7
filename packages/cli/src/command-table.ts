import type { Command } from 'commander';

/*
 * Which module registers which top-level commands. A command module is loaded only when the
 * command line names one of its commands (or when every command is needed: help, a config
 * file, a name not listed here), so `dfs stat` does not load what `dfs cluster up` or
 * `dfs admin certificates` need (packages/cli/DESIGN.md, start-up). A name missing here still
 * works, through the register-everything path; command-table.test.ts keeps the lists exact.
 */

/** One module's registration, required when used (a literal require, so the bundler still sees it). */
export interface CommandGroup {
  /** The top-level commands it adds or extends (`admin` is shared by several groups). */
  readonly names: readonly string[];
  readonly register: (program: Command) => void;
}

const adminOf = (program: Command): Command => program.commands.find((c) => c.name() === 'admin')!;

/** In help order: registering every group in this order gives the full `dfs --help`. */
export const COMMAND_GROUPS: readonly CommandGroup[] = [
  { names: ['put', 'append', 'get', 'cat'], register: (p) => (require('./commands/data.js') as typeof import('./commands/data.js')).registerDataCommands(p) },
  { names: ['ls', 'mkdir', 'rm', 'rmdir', 'mv', 'ln', 'stat'], register: (p) => (require('./commands/namespace.js') as typeof import('./commands/namespace.js')).registerNamespaceCommands(p) },
  { names: ['du', 'df', 'cp'], register: (p) => (require('./commands/usage.js') as typeof import('./commands/usage.js')).registerUsageCommands(p) },
  { names: ['mount', 'umount'], register: (p) => (require('./commands/mount.js') as typeof import('./commands/mount.js')).registerMountCommands(p) },
  { names: ['chmod', 'chown', 'chgrp', 'setrep', 'count', 'whoami', 'trash'], register: (p) => (require('./commands/users.js') as typeof import('./commands/users.js')).registerUserCommands(p) },
  { names: ['admin'], register: (p) => (require('./commands/admin.js') as typeof import('./commands/admin.js')).registerAdminCommands(p) },
  { names: ['snapshot'], register: (p) => (require('./commands/snapshot.js') as typeof import('./commands/snapshot.js')).registerSnapshotCommands(p) },
  { names: ['admin'], register: (p) => (require('./commands/users.js') as typeof import('./commands/users.js')).registerUserAdminCommands(adminOf(p)) },
  { names: ['admin'], register: (p) => (require('./commands/certificates.js') as typeof import('./commands/certificates.js')).registerCertificateCommands(p) },
  { names: ['fsck', 'admin'], register: (p) => (require('./commands/healing.js') as typeof import('./commands/healing.js')).registerHealingCommands(p) },
  { names: ['cluster'], register: (p) => (require('./commands/cluster.js') as typeof import('./commands/cluster.js')).registerClusterCommands(p) },
  { names: ['master', 'chunkserver'], register: (p) => (require('./commands/daemons.js') as typeof import('./commands/daemons.js')).registerDaemonCommands(p) },
];

/**
 * The command a command line names: its first word that is not an option. Global options
 * come before it (`dfs --config F stat /x`); only --config takes a value.
 */
export function commandNameOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args[i + 1];
    if (a === '--config') {
      i++;
      continue;
    }
    if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/** The groups a command line needs: only its command's, or all of them when that is not known. */
export function groupsFor(name: string | undefined): readonly CommandGroup[] {
  const needed = name === undefined ? [] : COMMAND_GROUPS.filter((g) => g.names.includes(name));
  return needed.length > 0 ? needed : COMMAND_GROUPS;
}
