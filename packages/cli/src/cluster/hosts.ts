import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DfsError, ErrorCode } from '@dfs/proto';

/*
 * "Hosts" on one machine: each a network namespace of its own, standing in for a machine.
 *
 *          bridge namespace  <prefix>-br
 *        ┌──────────── br0 ─────────────┐
 *       v1            v2      ...       vN          (veth ends, in the bridge namespace)
 *        │             │                 │
 *      eth0          eth0              eth0         (one in each host namespace)
 *   127.77.0.1/16  127.77.0.2/16    127.77.0.N/16   route_localnet=1 in every host namespace
 *   <prefix>-h1    <prefix>-h2      <prefix>-hN
 *
 * Nothing is configured in the root namespace: a misrouted packet can only reach the root's
 * own loopback. Namespace names carry the creating process's id (`dfs<pid>-<n>`), so
 * parallel runs never collide, and a later run removes what a SIGKILLed one left behind.
 * Each host also gets /etc/netns/<ns>/hosts (bind-mounted as /etc/hosts by `ip netns exec`)
 * naming every host, so processes can be given host names instead of addresses.
 * Faults: nftables tables inside a host namespace (removed with it), or a veth taken down.
 */

export const HOSTS_SUBNET = '127.77.0.0/16';
const PREFIX_RE = /^dfs(\d+)-\d+/;

export interface Host {
  /** Short name, resolvable inside every host namespace (e.g. "m1"). */
  name: string;
  /** The network namespace. */
  ns: string;
  /** 127.77.x.y */
  address: string;
  /** This host's veth end in the bridge namespace (take it down to cut the host off). */
  veth: string;
}

let networks = 0;

function ip(args: string[], input?: string): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new DfsError(ErrorCode.UNAVAILABLE, `ip ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every network namespace on the machine (`ip netns list`). */
export function listNamespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** Deletes namespaces left by dfs processes that no longer exist (a SIGKILLed run cannot clean up). */
export function sweepStaleNamespaces(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const m = PREFIX_RE.exec(ns);
    if (!m || isAlive(Number(m[1]))) continue;
    try {
      ip(['netns', 'del', ns]);
      rmSync(join('/etc/netns', ns), { recursive: true, force: true });
      removed.push(ns);
    } catch {
      /* raced with its owner or another sweeper */
    }
  }
  return removed;
}

export class HostNetwork {
  readonly prefix: string;
  readonly bridgeNs: string;
  private readonly hostList: Host[] = [];
  private destroyed = false;
  private readonly onExit = (): void => this.destroy();

  private constructor() {
    this.prefix = `dfs${process.pid}-${++networks}`;
    this.bridgeNs = `${this.prefix}-br`;
  }

  /** Creates the bridge and one host per name. Root only. Cleans up after itself on any failure. */
  static create(names: string[]): HostNetwork {
    if (process.getuid?.() !== 0) throw new DfsError(ErrorCode.PERMISSION_DENIED, 'hosts need root (network namespaces): run as root');
    if (names.length === 0 || names.length > 250) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `hosts: want 1..250 hosts, got ${names.length}`);
    if (new Set(names).size !== names.length || names.some((n) => !/^[a-z][a-z0-9-]{0,30}$/.test(n))) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, `hosts: names must be unique and like "m1": ${names.join(',')}`);
    }
    sweepStaleNamespaces();
    const net = new HostNetwork();
    // Also removed when this process exits without stopping (an exception, process.exit).
    process.once('exit', net.onExit);
    try {
      ip(['netns', 'add', net.bridgeNs]);
      ip(['-n', net.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
      ip(['-n', net.bridgeNs, 'link', 'set', 'br0', 'up']);
      names.forEach((name, i) => net.addHost(name, i + 1));
      net.writeHostsFiles();
    } catch (err) {
      net.destroy();
      throw err;
    }
    return net;
  }

  private addHost(name: string, n: number): void {
    const ns = `${this.prefix}-h${n}`;
    const veth = `v${n}`;
    const address = `127.77.${n >> 8}.${n & 255}`;
    ip(['netns', 'add', ns]);
    this.hostList.push({ name, ns, address, veth });
    // The pair is created inside the bridge namespace with its peer moved straight into the host's.
    ip(['-n', this.bridgeNs, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ip(['-n', this.bridgeNs, 'link', 'set', veth, 'master', 'br0', 'up']);
    ip(['-n', ns, 'addr', 'add', `${address}/16`, 'dev', 'eth0']);
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    // 127/8 on a real interface is dropped as martian unless route_localnet is on.
    ip(['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.all.route_localnet=1']);
    ip(['netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1']);
  }

  private writeHostsFiles(): void {
    const lines = ['127.0.0.1 localhost', ...this.hostList.map((h) => `${h.address} ${h.name}`)].join('\n') + '\n';
    for (const h of this.hostList) {
      mkdirSync(join('/etc/netns', h.ns), { recursive: true });
      writeFileSync(join('/etc/netns', h.ns, 'hosts'), lines);
    }
  }

  get hosts(): readonly Host[] {
    return this.hostList;
  }

  host(name: string): Host {
    const h = this.hostList.find((x) => x.name === name);
    if (!h) throw new DfsError(ErrorCode.NOT_FOUND, `no host ${name}`);
    return h;
  }

  /** argv prefix that runs a command inside a host: `ip netns exec <ns>` (exec's, so the pid is the command's). */
  execPrefix(name: string): string[] {
    return ['ip', 'netns', 'exec', this.host(name).ns];
  }

  /** Loads an nftables script inside a host's namespace. */
  nft(name: string, script: string): void {
    ip(['netns', 'exec', this.host(name).ns, 'nft', '-f', '-'], script);
  }

  /** Runs `nft` with arguments inside a host's namespace; returns its output. */
  nftCommand(name: string, args: string[]): string {
    return ip(['netns', 'exec', this.host(name).ns, 'nft', ...args]);
  }

  /** Takes a host's link to the bridge down (a pulled cable) or up again. */
  setLink(name: string, up: boolean): void {
    ip(['-n', this.bridgeNs, 'link', 'set', this.host(name).veth, up ? 'up' : 'down']);
  }

  /** Deletes every namespace (their veths and nftables tables go with them) and the hosts files. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    for (const ns of [...this.hostList.map((h) => h.ns), this.bridgeNs]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* never created */
      }
      rmSync(join('/etc/netns', ns), { recursive: true, force: true });
    }
  }
}

/** Namespaces this process created that still exist (tests assert none after stop). */
export function namespacesOf(pid = process.pid): string[] {
  return listNamespaces().filter((ns) => PREFIX_RE.exec(ns)?.[1] === String(pid));
}

/** For a failing test's message: which /etc/netns entries exist. */
export function etcNetnsEntries(): string[] {
  try {
    return readdirSync('/etc/netns');
  } catch {
    return [];
  }
}
