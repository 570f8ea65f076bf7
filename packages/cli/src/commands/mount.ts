import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import { cliPackageRoot } from '../package-root.js';

/** The FUSE helper's entry point (scripts/dfs-mount runs the same file). */
function dfsMountPath(): string {
  return join(cliPackageRoot(), '..', 'fuse', 'bin', 'dfs-mount.js');
}

/** Runs dfs-mount with `args` in this terminal, forwarding signals; resolves with its exit code. */
function runDfsMount(args: string[]): Promise<number> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [dfsMountPath(), ...args], { stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals): void => void child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      done(code ?? (signal ? EXIT.ERROR : EXIT.OK));
    });
  });
}

export function registerMountCommands(program: Command): void {
  program
    .command('mount')
    .description('mount dfs through FUSE (same as scripts/dfs-mount; see its --help for every option)')
    .argument('<args...>', '[options] [REMOTE_DIR] MOUNTPOINT')
    .allowUnknownOption()
    .helpOption(false)
    .addHelpText('after', '\nExamples:\n  dfs mount /mnt/dfs\n  dfs mount --daemon /projects /mnt/projects\n  dfs umount /mnt/dfs')
    .action(async (args: string[]) => {
      process.exitCode = await runDfsMount(args);
    });

  program
    .command('umount')
    .description('unmount a dfs FUSE mount cleanly (files still open are committed first)')
    .argument('<mountpoint>', 'the mount point')
    .action(async (mountpoint: string) => {
      process.exitCode = await runDfsMount(['--umount', mountpoint]);
    });
}
