// One `scripts/dfs-mount` as a child process, for the system tests that go through a real
// FUSE mount (fuse.test.ts, posix-conformance.test.ts), and the small shell helpers they share.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, StopWaiting, TestCluster, waitFor } from '@dfs/testkit';

export const DFS_MOUNT = join(REPO_ROOT, 'scripts', 'dfs-mount');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function sh(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function isMounted(mountpoint: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === mountpoint && / - fuse/.test(line));
}

export async function errnoOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'OK';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** One `scripts/dfs-mount` in the foreground, as a child process. */
export class Mount {
  private out = '';
  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
  }

  /** Mounts the cluster at a new temporary directory; `extra` are more dfs-mount flags. */
  static async start(cluster: TestCluster, extra: string[] = []): Promise<Mount> {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-fuse-sys-'));
    const child = spawn(DFS_MOUNT, ['--masters', cluster.masterList, '--timeout', '1s', '--retry-window', '3s', ...extra, dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...cluster.env } });
    const m = new Mount(dir, child);
    try {
      await waitFor(`dfs-mount at ${dir}`, () => {
        if (m.exited) throw new StopWaiting(`dfs-mount exited (${child.exitCode}): ${m.out}`);
        return m.out.includes('mounted ') && isMounted(dir);
      }, 30_000);
    } catch (err) {
      await m.stop();
      throw err;
    }
    return m;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  get log(): string {
    return this.out;
  }

  path(p: string): string {
    return join(this.dir, p);
  }

  /** Asks the server to unmount (SIGTERM) without waiting. */
  terminate(): void {
    this.child.kill('SIGTERM');
  }

  /** Crashes the server (SIGKILL) and clears the dead mount point. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await waitFor('dfs-mount to die', () => this.exited, 10_000);
    if (isMounted(this.dir)) await sh('fusermount', ['-uz', this.dir]);
  }

  /** Always leaves nothing mounted and nothing running. */
  async stop(): Promise<void> {
    if (!this.exited) {
      this.child.kill('SIGTERM');
      await waitFor('dfs-mount to exit', () => this.exited, 30_000).catch(() => this.child.kill('SIGKILL'));
    }
    if (isMounted(this.dir)) await sh('fusermount', ['-uz', this.dir]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
