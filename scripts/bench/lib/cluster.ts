import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { INSECURE, tlsFrom, type Security } from '@dfs/security';

// Compiled to scripts/bench/dist/lib/: four levels up is the repository root.
export const DFS_BIN = resolve(__dirname, '..', '..', '..', '..', 'packages', 'cli', 'bin', 'dfs.js');

export interface BenchCluster {
  masters: string[];
  /** The local user's credentials (mutual TLS, the default), or plaintext with `--insecure`. */
  security: Security;
  chunkserverPids: Map<string, number>;
  /** Every node process (masters and chunkservers) by id. */
  pids: Map<string, number>;
  stop(): Promise<void>;
}

/** Starts a cluster through the one launcher, `dfs cluster up`, and waits for "ready". */
export function startBenchCluster(dir: string, args: string[]): Promise<BenchCluster> {
  const launcher: ChildProcess = spawn(process.execPath, [DFS_BIN, 'cluster', 'up', '--dir', dir, '--base-port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolvePromise, reject) => {
    let out = '';
    launcher.once('exit', (code) => reject(new Error(`dfs cluster up exited with ${code}`)));
    launcher.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('ready')) return;
      const info = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as {
        masters: Array<{ id: string; address: string; pid: number }>;
        chunkservers: Array<{ id: string; pid: number }>;
        tls?: { client: string };
      };
      resolvePromise({
        masters: info.masters.map((m) => m.address),
        security: info.tls ? tlsFrom(info.tls.client) : INSECURE,
        chunkserverPids: new Map(info.chunkservers.map((c) => [c.id, c.pid])),
        pids: new Map([...info.masters, ...info.chunkservers].map((n) => [n.id, n.pid])),
        stop: () =>
          new Promise<void>((done) => {
            launcher.removeAllListeners('exit');
            launcher.once('exit', () => done());
            launcher.kill('SIGTERM');
          }),
      });
    });
  });
}
