import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { DFS_BIN, isAlive } from '@dfs/testkit';
import type { Prng } from '@dfs/testkit';

/*
 * The faults, all made inside the hosts of a `dfs cluster up --hosts` cluster:
 *
 *   network: one nftables table `inet dfs_nemesis` per host namespace, rebuilt whole on every
 *            change, dropping by peer address on input and/or output (so one-way faults are
 *            possible) and a share of all input (`numgen random mod 100 < N`); or the host's
 *            veth taken down in the bridge namespace.
 *   process: SIGKILL (then a restart with the same arguments, in the same host), SIGSTOP/SIGCONT,
 *            and a rolling restart of every node.
 *
 * Nothing touches the root namespace: `nft` and `ip` run through `ip netns exec` / `ip -n`.
 */

export interface NodeInfo {
  id: string;
  pid: number;
  args: string[];
  log: string;
  host: { name: string; ns: string; address: string };
}

export interface ClusterOnHosts {
  masters: NodeInfo[];
  chunkservers: NodeInfo[];
  network: { bridgeNs: string; client: { name: string; ns: string; address: string }; hosts: Array<{ name: string; ns: string; address: string; veth: string }> };
  /** The user's and admin's credentials (absent on an --insecure cluster). */
  tls?: { client: string; admin: string };
}

interface HostRules {
  dropIn: Set<string>;
  dropOut: Set<string>;
  lossPct: number;
}

export interface Fault {
  kind: string;
  /** What was done, for the log and the report. */
  detail: string;
  heal(): Promise<void> | void;
}

const TABLE = 'dfs_nemesis';

export class Nemesis {
  private readonly rules = new Map<string, HostRules>();
  private readonly restarted: ChildProcess[] = [];
  private readonly stopped = new Set<string>();
  private readonly downLinks = new Set<string>();
  readonly counts = new Map<string, number>();

  constructor(private readonly cluster: ClusterOnHosts) {}

  get nodes(): NodeInfo[] {
    return [...this.cluster.masters, ...this.cluster.chunkservers];
  }

  /** Every host name: the nodes and the client. */
  get hostNames(): string[] {
    return this.cluster.network.hosts.map((h) => h.name);
  }

  private host(name: string): { ns: string; address: string; veth: string } {
    const h = this.cluster.network.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`nemesis: no host ${name}`);
    return h;
  }

  private rulesOf(name: string): HostRules {
    let r = this.rules.get(name);
    if (!r) this.rules.set(name, (r = { dropIn: new Set(), dropOut: new Set(), lossPct: 0 }));
    return r;
  }

  /** Rebuilds a host's table from its rules, atomically (one nft transaction). */
  private apply(name: string): void {
    const r = this.rulesOf(name);
    const set = (xs: Set<string>): string => `{ ${[...xs].map((h) => this.host(h).address).join(', ')} }`;
    const input = [
      ...(r.dropIn.size ? [`ip saddr ${set(r.dropIn)} drop`] : []),
      ...(r.lossPct > 0 ? [`numgen random mod 100 < ${r.lossPct} drop`] : []),
    ];
    const output = r.dropOut.size ? [`ip daddr ${set(r.dropOut)} drop`] : [];
    const script = [
      `add table inet ${TABLE}`,
      `delete table inet ${TABLE}`,
      ...(input.length || output.length
        ? [
            `table inet ${TABLE} {`,
            '  chain input {',
            '    type filter hook input priority 0; policy accept;',
            ...input.map((rule) => `    ${rule}`),
            '  }',
            '  chain output {',
            '    type filter hook output priority 0; policy accept;',
            ...output.map((rule) => `    ${rule}`),
            '  }',
            '}',
          ]
        : []),
    ].join('\n');
    execFileSync('ip', ['netns', 'exec', this.host(name).ns, 'nft', '-f', '-'], { input: script, stdio: ['pipe', 'ignore', 'pipe'] });
  }

  private count(kind: string): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  /** `a` stops hearing from every host in `from` (input drop): one-way unless mirrored. */
  private dropInbound(a: string, from: string[]): void {
    const r = this.rulesOf(a);
    for (const f of from) if (f !== a) r.dropIn.add(f);
    this.apply(a);
  }

  /** Cuts every link between the two groups, both ways. */
  partition(kind: string, left: string[], right: string[]): Fault {
    for (const a of left) this.dropInbound(a, right);
    for (const b of right) this.dropInbound(b, left);
    this.count(kind);
    return { kind, detail: `${kind}: [${left.join(' ')}] | [${right.join(' ')}]`, heal: () => this.healNetwork() };
  }

  /** `to` stops receiving from `from`; the other direction still works. */
  oneWay(from: string, to: string): Fault {
    this.dropInbound(to, [from]);
    this.count('one-way');
    return { kind: 'one-way', detail: `one-way: ${from} -> ${to} dropped`, heal: () => this.healNetwork() };
  }

  /** Inbound and outbound drops on `host` for `peers` only (e.g. a chunkserver and the masters). */
  cut(kind: string, host: string, peers: string[]): Fault {
    const r = this.rulesOf(host);
    for (const p of peers) {
      r.dropIn.add(p);
      r.dropOut.add(p);
    }
    this.apply(host);
    this.count(kind);
    return { kind, detail: `${kind}: ${host} cut from ${peers.join(' ')}`, heal: () => this.healNetwork() };
  }

  loss(pct: number): Fault {
    for (const h of this.hostNames) {
      this.rulesOf(h).lossPct = pct;
      this.apply(h);
    }
    this.count('loss');
    return { kind: 'loss', detail: `loss: ${pct}% of packets dropped on every host`, heal: () => this.healNetwork() };
  }

  linkDown(name: string): Fault {
    execFileSync('ip', ['-n', this.cluster.network.bridgeNs, 'link', 'set', this.host(name).veth, 'down']);
    this.downLinks.add(name);
    this.count('link-down');
    return { kind: 'link-down', detail: `link-down: ${name}`, heal: () => this.healNetwork() };
  }

  /** Removes every network fault. */
  healNetwork(): void {
    for (const name of this.rules.keys()) {
      this.rules.set(name, { dropIn: new Set(), dropOut: new Set(), lossPct: 0 });
      this.apply(name);
    }
    this.rules.clear();
    for (const name of this.downLinks) execFileSync('ip', ['-n', this.cluster.network.bridgeNs, 'link', 'set', this.host(name).veth, 'up']);
    this.downLinks.clear();
  }

  node(id: string): NodeInfo {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`nemesis: no node ${id}`);
    return n;
  }

  kill(id: string): Fault {
    const n = this.node(id);
    if (isAlive(n.pid)) process.kill(n.pid, 'SIGKILL');
    this.count('kill');
    return { kind: 'kill', detail: `kill: SIGKILL ${id}`, heal: () => this.restart(id) };
  }

  pause(id: string): Fault {
    const n = this.node(id);
    process.kill(n.pid, 'SIGSTOP');
    this.stopped.add(id);
    this.count('pause');
    return {
      kind: 'pause',
      detail: `pause: SIGSTOP ${id}`,
      heal: () => {
        if (isAlive(n.pid)) process.kill(n.pid, 'SIGCONT');
        this.stopped.delete(id);
      },
    };
  }

  /** Starts a dead node again, same arguments, same host. */
  async restart(id: string): Promise<void> {
    const n = this.node(id);
    if (isAlive(n.pid)) {
      process.kill(n.pid, 'SIGKILL');
      await waitDead(n.pid);
    }
    const fd = openSync(n.log, 'a');
    const child = spawn('ip', ['netns', 'exec', n.host.ns, process.execPath, DFS_BIN, ...n.args], {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, DFS_PARENT_PID: String(process.pid) },
    });
    closeSync(fd);
    this.restarted.push(child);
    n.pid = child.pid ?? -1;
  }

  /** Every node in turn: SIGTERM, wait for it to exit, start it again, let it rejoin. */
  async rollingRestart(settleMs: number, signal: AbortSignal): Promise<Fault> {
    this.count('rolling-restart');
    for (const n of this.nodes) {
      if (signal.aborted) break;
      if (isAlive(n.pid)) {
        process.kill(n.pid, 'SIGTERM');
        await waitDead(n.pid).catch(() => process.kill(n.pid, 'SIGKILL'));
      }
      await this.restart(n.id);
      await new Promise((r) => setTimeout(r, settleMs));
    }
    return { kind: 'rolling-restart', detail: `rolling-restart: ${this.nodes.map((n) => n.id).join(' ')}`, heal: () => undefined };
  }

  /** Heals everything: network, paused and dead nodes. */
  async healAll(): Promise<void> {
    this.healNetwork();
    for (const id of this.stopped) {
      const n = this.node(id);
      if (isAlive(n.pid)) process.kill(n.pid, 'SIGCONT');
    }
    this.stopped.clear();
    for (const n of this.nodes) if (!isAlive(n.pid)) await this.restart(n.id);
  }

  /** Stops the nodes this nemesis restarted (the launcher stops the ones it started). */
  async stop(): Promise<void> {
    for (const n of this.nodes) {
      if (isAlive(n.pid)) {
        try {
          process.kill(n.pid, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
    }
    for (const child of this.restarted) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

async function waitDead(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`pid ${pid} did not exit`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Shuffled copy (seeded). */
export function shuffle<T>(prng: Prng, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
