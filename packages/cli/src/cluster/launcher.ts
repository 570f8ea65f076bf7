import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { DfsClient, type ClusterJson, type ClusterNode, type HostEntry } from '@dfs/client';
import { DfsError, ErrorCode, freePorts } from '@dfs/proto';
import { ensureCa, INSECURE, isValidIdentityName, issueCertificate, tlsFrom, type Identity, type Security } from '@dfs/security';
import { HostNetwork } from './hosts.js';
import { cliPackageRoot } from '../package-root.js';

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
  /**
   * Each node on a "host" of its own: a network namespace with a 127.77.x.y address on a
   * veth to a bridge in a namespace of its own (see hosts.ts). Root only. Nodes dial each
   * other by host name (m1:7001, c2:7101); clients run in the extra host "client".
   */
  hosts?: boolean;
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

/** The compiled CLI entry point, run with this same node binary (daemons skip the start-up bundle). */
function dfsMainPath(): string {
  return join(cliPackageRoot(), 'dist', 'src', 'main.js');
}

/** Starts one node (`dfs master …` / `dfs chunkserver …`) as a direct child: its pid is the node itself. */
function spawnNode(args: string[], logPath: string, prefix: string[] = []): ChildProcess {
  const fd = openSync(logPath, 'a');
  try {
    // DFS_NODE_ARGS: extra node flags for every node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (profiling).
    const nodeArgs = (process.env.DFS_NODE_ARGS ?? '').split(' ').filter(Boolean);
    // `prefix` (ip netns exec NS) exec's node in place: the child's pid is still the node's.
    const argv = [...prefix, process.execPath, ...nodeArgs, dfsMainPath(), ...args];
    return spawn(argv[0]!, argv.slice(1), {
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
  readonly info: ClusterJson = { masters: [], chunkservers: [] };
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;
  private network: HostNetwork | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(private readonly opts: ClusterOptions) {}

  async start(): Promise<ClusterJson> {
    const { opts } = this;
    const dir = resolve(opts.dir);
    mkdirSync(dir, { recursive: true });
    const masterIds = Array.from({ length: opts.masters }, (_, i) => `m${i + 1}`);
    const chunkserverIds = Array.from({ length: opts.chunkservers }, (_, i) => `c${i + 1}`);
    if (opts.hosts) {
      this.network = HostNetwork.create([...masterIds, ...chunkserverIds, 'client']);
      const n = this.network;
      const entry = (name: string): HostEntry => ({ name, ns: n.host(name).ns, address: n.host(name).address });
      this.info.network = { bridgeNs: n.bridgeNs, client: entry('client'), hosts: n.hosts.map((h) => ({ ...entry(h.name), veth: h.veth })) };
      // The hosts outlive their nodes (a test restarts killed nodes in them): stay up until stop().
      this.keepAlive = setInterval(() => undefined, 1 << 30);
    }
    // What a node binds, what the others dial, its HTTP address, and the names its certificate carries.
    let addr: (id: string, kind: 'm' | 'c', i: number) => { listen: string; advertise: string; http: string; names: string[] };
    const host = opts.host ?? '127.0.0.1';
    if (this.network) {
      // One machine per node: fixed ports, bound on the host's address, dialled by host name.
      const n = this.network;
      addr = (id, kind) => {
        const port = kind === 'm' ? 7001 : 7101;
        const ip = n.host(id).address;
        return { listen: `${ip}:${port}`, advertise: `${id}:${port}`, http: `${ip}:${port + 79}`, names: [id, ip] };
      };
    } else {
      const needed = 2 * (opts.masters + opts.chunkservers);
      const ports = opts.basePort === 0 ? await freePorts(needed, host) : [];
      const port = (kind: 'm' | 'mh' | 'c' | 'ch', i: number): number => {
        if (opts.basePort === 0) {
          const base = { m: 0, mh: opts.masters, c: 2 * opts.masters, ch: 2 * opts.masters + opts.chunkservers }[kind];
          return ports[base + i]!;
        }
        return opts.basePort + { m: 1, mh: 81, c: 101, ch: 201 }[kind] + i;
      };
      addr = (_id, kind, i) => {
        const grpc = `${host}:${port(kind, i)}`;
        return { listen: grpc, advertise: grpc, http: `${host}:${port(kind === 'm' ? 'mh' : 'ch', i)}`, names: [host] };
      };
    }

    // Secure by default: a CA under DIR/ca (kept across runs), a certificate per node under
    // its data directory naming the hosts it is dialled by, and one for the local user and one for the admin.
    const issue = async (identity: Identity, out: string, names: string[] = [host]): Promise<void> => {
      await issueCertificate({ ca: join(dir, 'ca'), identity, hosts: [...new Set([...names, '127.0.0.1', 'localhost'])], out });
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

    const masters = masterIds.map((id, i) => ({ id, ...addr(id, 'm', i) }));
    const peers = masters.map((m) => `${m.id}=${m.advertise}`).join(',');
    const masterAddresses = masters.map((m) => m.advertise);
    const peersHttp = masters.map((m) => `${m.id}=${m.http}`).join(',');

    for (const m of masters) {
      const nodeDir = join(dir, m.id);
      if (!opts.insecure) await issue({ role: 'master', name: m.id }, join(nodeDir, 'tls'), m.names);
      const args = ['master', '--id', m.id, '--dir', nodeDir, '--listen', m.listen, '--advertise', m.advertise, '--http', m.http, '--peers', peers, '--peers-http', peersHttp];
      if (opts.chunkSize) args.push('--chunk-size', String(opts.chunkSize));
      if (opts.replication) args.push('--replication', String(opts.replication));
      if (opts.deadAfter) args.push('--dead-after', opts.deadAfter);
      if (opts.logLevel) args.push('--log-level', opts.logLevel);
      args.push(...securityArgs, ...(opts.masterArgs ?? []));
      this.info.masters.push(this.launch(m.id, nodeDir, m.advertise, m.http, args));
    }
    for (const [i, id] of chunkserverIds.entries()) {
      const a = addr(id, 'c', i);
      const nodeDir = join(dir, id);
      if (!opts.insecure) await issue({ role: 'chunkserver', name: id }, join(nodeDir, 'tls'), a.names);
      const args = ['chunkserver', '--id', id, '--dir', nodeDir, '--listen', a.listen, '--advertise', a.advertise, '--http', a.http, '--masters', masterAddresses.join(',')];
      if (opts.racks) args.push('--rack', `r${(i % opts.racks) + 1}`);
      if (opts.logLevel) args.push('--log-level', opts.logLevel);
      args.push(...securityArgs, ...(opts.chunkserverArgs ?? []));
      this.info.chunkservers.push(this.launch(id, nodeDir, a.advertise, a.http, args));
    }
    if (opts.chunkSize) this.info.chunkSize = opts.chunkSize;

    // Hosts: a certificate per node and every process started through ip netns exec take longer.
    const timeoutMs = opts.readyTimeoutMs ?? (opts.hosts ? 180_000 : 60_000);
    if (this.network) await this.waitReadyOnHosts(masterAddresses, timeoutMs);
    else await waitUntilReady(masterAddresses, this.opts.chunkservers, security, timeoutMs, () => this.checkChildren());
    const clusterJson = join(dir, 'cluster.json');
    writeFileSync(`${clusterJson}.tmp`, JSON.stringify(this.info, null, 2) + '\n');
    renameSync(`${clusterJson}.tmp`, clusterJson);
    return this.info;
  }

  private launch(id: string, nodeDir: string, address: string, http: string, args: string[]): ClusterNode {
    mkdirSync(nodeDir, { recursive: true });
    const log = join(nodeDir, 'node.log');
    const host = this.network?.host(id);
    const child = spawnNode(args, log, host ? this.network!.execPrefix(id) : []);
    this.children.set(id, child);
    child.on('exit', (code, signal) => {
      this.children.delete(id);
      if (!this.stopping) this.opts.log?.(`${id} exited (${signal ?? `code ${code}`}); see ${log}`);
    });
    return { id, address, http, pid: child.pid ?? -1, dir: nodeDir, args, log, ...(host ? { host: { name: host.name, ns: host.ns, address: host.address } } : {}) };
  }

  private checkChildren(): void {
    for (const entry of [...this.info.masters, ...this.info.chunkservers]) {
      if (!this.children.has(entry.id)) {
        throw new DfsError(ErrorCode.UNAVAILABLE, `${entry.id} exited during start-up:\n${tail(entry.log)}`);
      }
    }
  }

  /** The same readiness check, run by `dfs cluster wait-ready` inside the client host (the root namespace reaches no host). */
  private async waitReadyOnHosts(masterAddresses: string[], timeoutMs: number): Promise<void> {
    const creds = this.info.tls ? ['--tls-dir', this.info.tls.admin] : ['--insecure'];
    const args = ['cluster', 'wait-ready', '--masters', masterAddresses.join(','), '--chunkservers', String(this.opts.chunkservers), '--timeout', `${timeoutMs}ms`, ...creds];
    const log = join(resolve(this.opts.dir), 'wait-ready.log');
    const child = spawnNode(args, log, this.network!.execPrefix('client'));
    const watch = setInterval(() => {
      try {
        this.checkChildren();
      } catch {
        child.kill('SIGKILL');
      }
    }, 200);
    try {
      const code = await new Promise<number | null>((res) => child.once('exit', (c) => res(c)));
      this.checkChildren();
      if (code !== 0) throw new DfsError(ErrorCode.UNAVAILABLE, `cluster not ready: ${tail(log, 3)}`);
    } finally {
      clearInterval(watch);
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
    // Every node has exited: nothing holds the namespaces any more.
    this.network?.destroy();
    clearInterval(this.keepAlive);
  }
}

/**
 * Resolves once every master answers, one is leader, and `chunkservers` chunkservers are
 * registered and live; `check` may throw to give up early (a node died).
 */
export async function waitUntilReady(
  masterAddresses: string[],
  chunkservers: number,
  security: Security,
  timeoutMs: number,
  check: () => void = () => undefined,
  onProblem: (problem: string) => void = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const client = new DfsClient({ masters: masterAddresses, security, callTimeoutMs: 1000, retryWindowMs: 0 });
  const perMaster = masterAddresses.map((a) => new DfsClient({ masters: [a], security, callTimeoutMs: 1000, retryWindowMs: 0 }));
  let lastProblem = 'starting';
  try {
    while (Date.now() < deadline) {
      check();
      try {
        await Promise.all(perMaster.map((c) => c.clusterStatus()));
        const status = await client.clusterStatus();
        const live = status.chunkservers.filter((c) => c.state === 'live').length;
        if (!status.leaderId) lastProblem = 'no leader elected yet';
        else if (live < chunkservers) lastProblem = `${live}/${chunkservers} chunkservers registered`;
        else return;
      } catch (err) {
        lastProblem = (err as Error).message;
      }
      onProblem(lastProblem);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new DfsError(ErrorCode.UNAVAILABLE, `cluster not ready after ${timeoutMs} ms: ${lastProblem}`);
  } finally {
    client.close();
    perMaster.forEach((c) => c.close());
  }
}
