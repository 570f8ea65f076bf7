import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { DfsClient, type ClusterTls } from '@dfs/client';
import { DfsError, ErrorCode } from '@dfs/proto';
import { ensureCa, INSECURE, isValidIdentityName, issueCertificate, tlsFrom, type Identity, type Security } from '@dfs/security';
import { freePorts } from './ports.js';

export interface ClusterOptions {
  dir: string;
  masters: number;
  chunkservers: number;
  /** 0 = ephemeral ports (tests). Otherwise masters P+1.., their HTTP P+81.., chunkservers P+101.., their HTTP P+201... */
  basePort: number;
  host?: string;
  chunkSize?: number;
  replication?: number;
  deadAfter?: string;
  /** Racks assigned round-robin to chunkservers. */
  racks?: number;
  logLevel?: string;
  /** Extra flags passed to every master / chunkserver. */
  masterArgs?: string[];
  chunkserverArgs?: string[];
  readyTimeoutMs?: number;
  log?: (line: string) => void;
  /** Plaintext everywhere (every node gets --insecure). Default: mutual TLS from a CA made under `dir`. */
  insecure?: boolean;
}

export interface NodeEntry {
  id: string;
  address: string;
  http: string;
  pid: number;
  dir: string;
  /** The `dfs` arguments that started it, so a test can restart a killed node. */
  args: string[];
  log: string;
}

export interface ClusterInfo {
  masters: NodeEntry[];
  chunkservers: NodeEntry[];
  chunkSize?: number;
  /** The CA and the credentials directories of the local user and admin (absent with --insecure). */
  tls?: ClusterTls;
  /** Set when the cluster runs plaintext (--insecure). */
  insecure?: boolean;
}

/** The local user's client identity: their login name when it is a valid id. */
function localUser(): string {
  try {
    const name = userInfo().username;
    if (isValidIdentityName(name)) return name;
  } catch {
    /* no passwd entry */
  }
  return 'dfs';
}

/** The compiled CLI entry point, run with this same node binary. */
export function dfsMainPath(): string {
  return resolve(__dirname, '..', 'main.js');
}

/** Starts one node (`dfs master …` / `dfs chunkserver …`) as a direct child: its pid is the node itself. */
export function spawnNode(args: string[], logPath: string): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    // DFS_NODE_ARGS: extra node flags for every node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (profiling).
    const nodeArgs = (process.env.DFS_NODE_ARGS ?? '').split(' ').filter(Boolean);
    return spawn(process.execPath, [...nodeArgs, dfsMainPath(), ...args], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, DFS_PARENT_PID: String(process.pid) },
    });
  } finally {
    closeSync(fd);
  }
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * The one cluster launcher (`dfs cluster up`, `make run`, tests, benchmarks).
 * Starts masters and chunkservers as children on loopback and resolves once every
 * process answers, a leader is elected and every chunkserver is registered.
 */
export class LocalCluster {
  readonly info: ClusterInfo = { masters: [], chunkservers: [] };
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;

  constructor(private readonly opts: ClusterOptions) {}

  async start(): Promise<ClusterInfo> {
    const { opts } = this;
    const host = opts.host ?? '127.0.0.1';
    const dir = resolve(opts.dir);
    mkdirSync(dir, { recursive: true });
    const needed = 2 * (opts.masters + opts.chunkservers);
    const ports = opts.basePort === 0 ? await freePorts(needed, host) : [];
    const port = (kind: 'm' | 'mh' | 'c' | 'ch', i: number): number => {
      if (opts.basePort === 0) {
        const base = { m: 0, mh: opts.masters, c: 2 * opts.masters, ch: 2 * opts.masters + opts.chunkservers }[kind];
        return ports[base + i]!;
      }
      return opts.basePort + { m: 1, mh: 81, c: 101, ch: 201 }[kind] + i;
    };

    // Secure by default: a CA under DIR/ca (kept across runs), a certificate per node under
    // its data directory, and one for the local user and one for the admin.
    const issue = async (identity: Identity, out: string): Promise<void> => {
      await issueCertificate({ ca: join(dir, 'ca'), identity, hosts: [...new Set([host, '127.0.0.1', 'localhost'])], out });
    };
    let security: Security = INSECURE;
    if (opts.insecure) {
      this.info.insecure = true;
    } else {
      await ensureCa(join(dir, 'ca'));
      this.info.tls = { ca: join(dir, 'ca'), client: join(dir, 'client'), admin: join(dir, 'admin') };
      await issue({ role: 'client', name: localUser() }, this.info.tls.client);
      await issue({ role: 'admin', name: 'admin' }, this.info.tls.admin);
      security = tlsFrom(this.info.tls.admin);
    }
    const securityArgs = opts.insecure ? ['--insecure'] : [];

    const masterIds = Array.from({ length: opts.masters }, (_, i) => `m${i + 1}`);
    const peers = masterIds.map((id, i) => `${id}=${host}:${port('m', i)}`).join(',');
    const masterAddresses = masterIds.map((_, i) => `${host}:${port('m', i)}`);
    const peersHttp = masterIds.map((id, i) => `${id}=${host}:${port('mh', i)}`).join(',');

    for (const [i, id] of masterIds.entries()) {
      const nodeDir = join(dir, id);
      if (!opts.insecure) await issue({ role: 'master', name: id }, join(nodeDir, 'tls'));
      const args = ['master', '--id', id, '--dir', nodeDir, '--listen', `${host}:${port('m', i)}`, '--http', `${host}:${port('mh', i)}`, '--peers', peers, '--peers-http', peersHttp];
      if (opts.chunkSize) args.push('--chunk-size', String(opts.chunkSize));
      if (opts.replication) args.push('--replication', String(opts.replication));
      if (opts.deadAfter) args.push('--dead-after', opts.deadAfter);
      if (opts.logLevel) args.push('--log-level', opts.logLevel);
      args.push(...securityArgs, ...(opts.masterArgs ?? []));
      this.info.masters.push(this.launch(id, nodeDir, `${host}:${port('m', i)}`, `${host}:${port('mh', i)}`, args));
    }
    for (let i = 0; i < opts.chunkservers; i++) {
      const id = `c${i + 1}`;
      const nodeDir = join(dir, id);
      if (!opts.insecure) await issue({ role: 'chunkserver', name: id }, join(nodeDir, 'tls'));
      const args = ['chunkserver', '--id', id, '--dir', nodeDir, '--listen', `${host}:${port('c', i)}`, '--http', `${host}:${port('ch', i)}`, '--masters', masterAddresses.join(',')];
      if (opts.racks) args.push('--rack', `r${(i % opts.racks) + 1}`);
      if (opts.logLevel) args.push('--log-level', opts.logLevel);
      args.push(...securityArgs, ...(opts.chunkserverArgs ?? []));
      this.info.chunkservers.push(this.launch(id, nodeDir, `${host}:${port('c', i)}`, `${host}:${port('ch', i)}`, args));
    }
    if (opts.chunkSize) this.info.chunkSize = opts.chunkSize;

    await this.waitReady(masterAddresses, security, opts.readyTimeoutMs ?? 60_000);
    const clusterJson = join(dir, 'cluster.json');
    writeFileSync(`${clusterJson}.tmp`, JSON.stringify(this.info, null, 2) + '\n');
    renameSync(`${clusterJson}.tmp`, clusterJson);
    return this.info;
  }

  private launch(id: string, nodeDir: string, address: string, http: string, args: string[]): NodeEntry {
    mkdirSync(nodeDir, { recursive: true });
    const log = join(nodeDir, 'node.log');
    const child = spawnNode(args, log);
    this.children.set(id, child);
    child.on('exit', (code, signal) => {
      this.children.delete(id);
      if (!this.stopping) this.opts.log?.(`${id} exited (${signal ?? `code ${code}`}); see ${log}`);
    });
    return { id, address, http, pid: child.pid ?? -1, dir: nodeDir, args, log };
  }

  /** Ready = every master answers, one is leader, and every chunkserver is registered and live. */
  private async waitReady(masterAddresses: string[], security: Security, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const client = new DfsClient({ masters: masterAddresses, security, callTimeoutMs: 1000, retryWindowMs: 0 });
    const perMaster = masterAddresses.map((a) => new DfsClient({ masters: [a], security, callTimeoutMs: 1000, retryWindowMs: 0 }));
    let lastProblem = 'starting';
    try {
      while (Date.now() < deadline) {
        for (const entry of [...this.info.masters, ...this.info.chunkservers]) {
          if (!this.children.has(entry.id)) {
            throw new DfsError(ErrorCode.UNAVAILABLE, `${entry.id} exited during start-up:\n${tail(entry.log)}`);
          }
        }
        try {
          await Promise.all(perMaster.map((c) => c.clusterStatus()));
          const status = await client.clusterStatus();
          const live = status.chunkservers.filter((c) => c.state === 'live').length;
          if (!status.leaderId) lastProblem = 'no leader elected yet';
          else if (live < this.opts.chunkservers) lastProblem = `${live}/${this.opts.chunkservers} chunkservers registered`;
          else return;
        } catch (err) {
          lastProblem = (err as Error).message;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new DfsError(ErrorCode.UNAVAILABLE, `cluster not ready after ${timeoutMs} ms: ${lastProblem}`);
    } finally {
      client.close();
      perMaster.forEach((c) => c.close());
    }
  }

  /** SIGTERM every child, SIGKILL what is still alive after the grace period. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    const waits = [...this.children.values()].map(
      (child) =>
        new Promise<void>((res) => {
          if (child.exitCode !== null || child.signalCode !== null) return res();
          child.once('exit', () => res());
          child.kill('SIGTERM');
          setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          }, graceMs).unref();
        }),
    );
    await Promise.all(waits);
  }
}
