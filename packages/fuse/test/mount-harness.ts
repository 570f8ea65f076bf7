import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@dfs/testkit';
import { isFuseMounted } from '../src/native/mount-table.js';

/** FUSE must work where these tests run: say clearly why not instead of skipping. */
export function requireFuse(): void {
  if (!existsSync('/dev/fuse')) throw new Error('FUSE is not available: /dev/fuse is missing (load the fuse module or run the container with --device /dev/fuse)');
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (coreutils) and collects its output; never throws on a non-zero exit. */
export function sh(cmd: string, args: string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A mount served by a child process (the in-memory fixture or scripts/dfs-mount). */
export class MountProcess {
  private output = '';

  private constructor(
    readonly mountpoint: string,
    readonly child: ChildProcess,
    private readonly ownsDir: boolean,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  static async start(command: string, args: string[], mountpoint?: string): Promise<MountProcess> {
    const dir = mountpoint ?? mkdtempSync(join(tmpdir(), 'dfs-fuse-mnt-'));
    const child = spawn(command, [...args, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    const mp = new MountProcess(dir, child, mountpoint === undefined);
    try {
      await waitFor(`the mount at ${dir}`, () => {
        if (child.exitCode !== null) throw new Error(`mount process exited ${child.exitCode}: ${mp.output}`);
        return mp.output.includes('mounted ') && isFuseMounted(dir);
      });
    } catch (err) {
      await mp.stop();
      throw err;
    }
    return mp;
  }

  get log(): string {
    return this.output;
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Always leaves nothing mounted and nothing running (also after a failure). */
  async stop(): Promise<void> {
    if (!this.exited) {
      this.child.kill('SIGTERM');
      await waitFor('the mount process to exit', () => this.exited, 30_000).catch(() => this.child.kill('SIGKILL'));
    }
    if (isFuseMounted(this.mountpoint)) await sh('fusermount', ['-uz', this.mountpoint]);
    if (this.ownsDir) rmSync(this.mountpoint, { recursive: true, force: true });
  }
}
