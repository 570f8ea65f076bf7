import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Set in the environment of the background server a `--daemon` mount starts. */
export const DAEMON_ENV = 'DFS_MOUNT_DAEMON';
export const READY_PREFIX = 'mounted ';

/**
 * Starts the server in the background (detached, its log in `logFile`) and waits until
 * it reports the mount ready on its stdout. Resolves with that line.
 */
export function daemonize(script: string, argv: string[], logFile: string | undefined): Promise<string> {
  const log = logFile ?? join(tmpdir(), `dfs-mount-${process.pid}-${Date.now()}.log`);
  const logFd = openSync(log, 'a');
  const child = spawn(process.execPath, [script, ...argv.filter((a) => a !== '--daemon')], {
    detached: true,
    stdio: ['ignore', 'pipe', logFd],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  closeSync(logFd);
  return new Promise((resolve, reject) => {
    let out = '';
    const onExit = (code: number | null): void => {
      let tail = '';
      try {
        tail = readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n');
      } catch {
        /* no log */
      }
      reject(new Error(`the mount server exited (${code ?? 'signal'}) before the mount was ready; log ${log}:\n${tail}`));
    };
    child.once('exit', onExit);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith(READY_PREFIX));
      if (!line) return;
      child.off('exit', onExit);
      child.stdout!.destroy();
      child.unref();
      resolve(`${line} (pid ${child.pid}, log ${log})`);
    });
  });
}
