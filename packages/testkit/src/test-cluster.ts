import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DfsClient, type ClusterJson, type ClusterNode, type DfsClientOptions } from '@dfs/client';
import { INSECURE, tlsFrom, type Security } from '@dfs/security';
import { StopWaiting, waitFor } from './wait-for.js';

// Compiled to packages/testkit/dist/src/: four levels up is the repository root.
export const REPO_ROOT = resolve(__dirname, '..', '..', '..', '..');
export const DFS_BIN = join(REPO_ROOT, 'packages', 'cli', 'bin', 'dfs.js');

export interface TestClusterOptions {
  masters?: number;
  chunkservers?: number;
  chunkSize?: number;
  deadAfter?: string;
  racks?: number;
  extraArgs?: string[];
  readyTimeoutMs?: number;
  /** The cluster's directory (kept by `stop()`); default a new temp directory, removed by `stop()`. */
  dir?: string;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `dfs` binary. */
export function runDfs(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: Buffer | string; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [DFS_BIN, ...args], {
      env: { ...process.env, ...opts.env },
      cwd: opts.cwd ?? REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** True while a process with this pid exists (signal 0 probes without touching it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A real cluster started through `dfs cluster up` on ephemeral loopback ports, in its
 * own temp directory. `stop()` always leaves nothing running, also after a failure.
 */
export class TestCluster {
  private readonly clients: DfsClient[] = [];
  private readonly restarted = new Map<string, ChildProcess>();

  private constructor(
    readonly dir: string,
    private readonly launcher: ChildProcess,
    public info: ClusterJson,
    private readonly ownsDir: boolean,
  ) {}

  static async start(opts: TestClusterOptions = {}): Promise<TestCluster> {
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'dfs-test-'));
    mkdirSync(dir, { recursive: true });
    const args = ['cluster', 'up', '--dir', dir, '--base-port', '0', '--masters', String(opts.masters ?? 3), '--chunkservers', String(opts.chunkservers ?? 4)];
    if (opts.chunkSize) args.push('--chunk-size', String(opts.chunkSize));
    if (opts.deadAfter) args.push('--dead-after', opts.deadAfter);
    if (opts.racks) args.push('--racks', String(opts.racks));
    args.push(...(opts.extraArgs ?? []));
    const logFd = openSync(join(dir, 'launcher.log'), 'a');
    // DFS_PARENT_PID: if this process dies without stopping it, the cluster stops itself.
    const launcher = spawn(process.execPath, [DFS_BIN, ...args], { stdio: ['ignore', 'pipe', logFd], env: { ...process.env, DFS_PARENT_PID: String(process.pid) } });
    closeSync(logFd);
    let stdout = '';
    launcher.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    try {
      await waitFor(
        'dfs cluster up to print "ready"',
        () => {
          if (launcher.exitCode !== null) throw new StopWaiting(`dfs cluster up exited with ${launcher.exitCode}: ${readFileSync(join(dir, 'launcher.log'), 'utf8')}`);
          return stdout.includes('ready');
        },
        opts.readyTimeoutMs ?? 90_000,
      );
    } catch (err) {
      launcher.kill('SIGTERM');
      throw err;
    }
    const info = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterJson;
    return new TestCluster(dir, launcher, info, opts.dir === undefined);
  }

  get masterAddresses(): string[] {
    return this.info.masters.map((m) => m.address);
  }

  get masterList(): string {
    return this.masterAddresses.join(',');
  }

  /** Every node process (masters and chunkservers) by id. */
  get pids(): Map<string, number> {
    return new Map([...this.info.masters, ...this.info.chunkservers].map((n) => [n.id, n.pid]));
  }

  /** The local user's credentials (a client certificate), or plaintext for an --insecure cluster. */
  get security(): Security {
    return this.info.tls ? tlsFrom(this.info.tls.client) : INSECURE;
  }

  /** The admin's credentials (admin RPCs: decommission, balance, masters add/remove). */
  get adminSecurity(): Security {
    return this.info.tls ? tlsFrom(this.info.tls.admin) : INSECURE;
  }

  /** What a `dfs` command needs to reach this cluster: its masters and credentials. */
  get env(): NodeJS.ProcessEnv {
    if (!this.info.tls) return { DFS_MASTERS: this.masterList, DFS_INSECURE: '1' };
    return { DFS_MASTERS: this.masterList, DFS_TLS_DIR: this.info.tls.client, DFS_ADMIN_TLS_DIR: this.info.tls.admin };
  }

  client(opts: Partial<DfsClientOptions> = {}): DfsClient {
    const c = new DfsClient({ masters: this.masterAddresses, security: this.security, ...opts });
    this.clients.push(c);
    return c;
  }

  dfs(args: string[], opts: { input?: Buffer | string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    return runDfs(args, { ...opts, env: { ...this.env, ...opts.env } });
  }

  node(id: string): ClusterNode {
    const entry = [...this.info.masters, ...this.info.chunkservers].find((n) => n.id === id);
    if (!entry) throw new Error(`no node ${id}`);
    return entry;
  }

  /** Sends a signal to one node (SIGKILL = crash, SIGSTOP = pause). */
  signal(id: string, signal: NodeJS.Signals): void {
    process.kill(this.node(id).pid, signal);
  }

  async kill(id: string): Promise<void> {
    const pid = this.node(id).pid;
    process.kill(pid, 'SIGKILL');
    await waitFor(`${id} to die`, () => !isAlive(pid), 10_000, 20);
  }

  /** Starts a node again with the same arguments (the launcher never restarts nodes). */
  restart(id: string): void {
    const entry = this.node(id);
    const logFd = openSync(entry.log, 'a');
    const child = spawn(process.execPath, [DFS_BIN, ...entry.args], { stdio: ['ignore', logFd, logFd], env: { ...process.env, DFS_PARENT_PID: String(process.pid) } });
    closeSync(logFd);
    this.restarted.set(id, child);
    entry.pid = child.pid ?? -1;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    for (const entry of [...this.info.masters, ...this.info.chunkservers]) {
      // A SIGSTOPped node must be continued to act on SIGTERM.
      if (isAlive(entry.pid)) {
        try {
          process.kill(entry.pid, 'SIGCONT');
        } catch {
          /* already gone */
        }
      }
    }
    if (this.launcher.exitCode === null) {
      const exited = new Promise((r) => this.launcher.once('exit', r));
      this.launcher.kill('SIGTERM');
      // The launcher stops every node and then removes its hosts' namespaces: at load 30 that
      // took over 10 s, and a test that moved on found the namespaces still there.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 60_000)))]);
      clearTimeout(timer); // else every caller stays alive for the rest of the 60 s
    }
    for (const child of this.restarted.values()) child.kill('SIGTERM');
    for (const entry of [...this.info.masters, ...this.info.chunkservers]) {
      if (isAlive(entry.pid)) process.kill(entry.pid, 'SIGKILL');
    }
    if (this.ownsDir && !process.env.DFS_KEEP_TEST_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }
}
