import { daemonize, DAEMON_ENV, READY_PREFIX } from './daemon.js';
import { createLogger } from './log.js';
import { parseArgs, USAGE, UsageError } from './options.js';
import { serve } from './serve.js';
import { umount } from './umount.js';

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The dfs-mount command. Returns the exit code; a foreground mount resolves only once
 * it has been unmounted.
 */
export async function main(argv: string[], script: string): Promise<number> {
  let args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`dfs-mount: ${message(err)}\n${err instanceof UsageError ? 'run dfs-mount --help for usage\n' : ''}`);
    return 2;
  }
  if (args.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    if (args.kind === 'umount') {
      await umount(args.mountpoint);
      return 0;
    }
    if (args.daemon) {
      process.stdout.write(`${await daemonize(script, argv, args.logFile)}\n`);
      return 0;
    }
    const log = createLogger('dfs-mount');
    const served = await serve(args, log);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void served.stop(signal));
    // A closed terminal unmounts a foreground mount cleanly; a daemon has no terminal.
    process.on('SIGHUP', () => (process.env[DAEMON_ENV] ? undefined : void served.stop('SIGHUP')));
    process.stdout.on('error', () => undefined);
    process.stdout.write(`${READY_PREFIX}dfs:${args.remoteDir} on ${served.mountpoint}\n`);
    await served.finished;
    return 0;
  } catch (err) {
    process.stderr.write(`dfs-mount: ${message(err)}\n`);
    return 1;
  }
}
