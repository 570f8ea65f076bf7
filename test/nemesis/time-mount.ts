import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT, StopWaiting, waitFor } from '@dfs/testkit';

/*
 * A FUSE mount in the client host, and its calls timed from inside that host:
 *   ip netns exec <client ns> node time-mount.js MASTERS
 * `ip netns exec` gives the command a mount namespace of its own, so the mount is visible only
 * to this process and its children: the timed calls are made here, on the test's word.
 *   stdout "ready"            once mounted and a first mkdir through the mount answered
 *   stdin  "mkdir NAME"   ->  stdout "took MS" (or "error MESSAGE")
 *   stdin closed          ->  unmounts (SIGTERM to dfs-mount), exits
 * The mount runs with its default deadlines: what is timed is what a user would wait.
 */

const MOUNT_BIN = join(REPO_ROOT, 'packages', 'fuse', 'bin', 'dfs-mount.js');

async function main(): Promise<void> {
  const masters = process.argv[2];
  if (!masters) throw new Error('usage: time-mount.js MASTERS');
  const dir = mkdtempSync(join(tmpdir(), 'dfs-nemesis-mount-'));
  const mnt = join(dir, 'mnt');
  await mkdir(mnt);
  const child = spawn(process.execPath, [MOUNT_BIN, '--masters', masters, '--spool-dir', join(dir, 'spool'), mnt], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  process.on('exit', () => child.kill('SIGKILL')); // never leave a mount server behind
  await waitFor('dfs-mount to say it is mounted', () => {
    if (child.exitCode !== null) throw new StopWaiting(`dfs-mount exited (${child.exitCode}): ${out.slice(-2000)}`);
    return out.includes('mounted ');
  }, 120_000, 50);
  await mkdir(join(mnt, 'mount-ready'), { recursive: true });
  process.stdout.write('ready\n');
  for await (const line of createInterface({ input: process.stdin })) {
    const [cmd, name] = line.trim().split(' ');
    if (cmd !== 'mkdir' || !name) continue;
    const t0 = performance.now();
    try {
      await mkdir(join(mnt, name));
      process.stdout.write(`took ${Math.round(performance.now() - t0)}\n`);
    } catch (err) {
      process.stdout.write(`error ${String(err).replace(/\n/g, ' ')}\n`);
    }
  }
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    /* the lazy unmount may still hold the mount point; tmp is cleaned anyway */
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`time-mount: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
