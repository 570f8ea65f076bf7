import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFuseMounted } from '../src/native/mount-table.js';
import type { FsxTarget } from './fsx.js';

/** Polls until `check` is truthy; never a blind sleep. */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

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

/** fsx through the kernel: a real file descriptor on the mount. */
export function mountTarget(path: string): FsxTarget & { close(): Promise<void> } {
  let fh: FileHandle | undefined;
  const ensure = async (): Promise<FileHandle> => (fh ??= await open(path, 'r+'));
  return {
    write: async (data, pos) => {
      await (await ensure()).write(data, 0, data.length, pos);
    },
    truncate: async (size) => (await ensure()).truncate(size),
    read: async (len, pos) => {
      const out = Buffer.alloc(len);
      let done = 0;
      while (done < len) {
        const { bytesRead } = await (await ensure()).read(out, done, len - done, pos + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out.subarray(0, done);
    },
    size: async () => (await (await ensure()).stat()).size,
    reopen: async () => {
      await fh?.close();
      fh = await open(path, 'r+');
    },
    close: async () => {
      await fh?.close();
      fh = undefined;
    },
  };
}
