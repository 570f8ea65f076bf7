import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DFS_BIN, TestCluster } from '@dfs/testkit';
import { checkAppends, checkData, checkMetadata, type CheckReport } from './checkers.js';
import { hostsPrefix, namespacesLeft } from './cleanup.js';
import { readHistory } from './history.js';
import { Nemesis, shuffle, type ClusterOnHosts, type Fault } from './nemesis.js';
import { Prng } from '@dfs/testkit';
import type { FinalState } from './workload.js';

/*
 * One nemesis run: a cluster on hosts (`dfs cluster up --hosts`), the workloads in the client
 * host, a seeded schedule of faults while they run, then every fault healed, the final state
 * read back and the history checked. The same seed gives the same schedule (which faults, in
 * which order, for how long, on which role); the nodes it lands on follow the cluster's state
 * (the leader at that moment).
 */

export const FAULT_KINDS = [
  'isolate-leader', 'halves', 'bridge', 'one-way',
  'chunkserver-cut-from-masters', 'client-cut-from-leader', 'loss', 'link-down',
  'kill', 'kill-leader', 'pause', 'rolling-restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface RunOptions {
  seed: number;
  /** How long the workloads run (faults meanwhile). */
  seconds: number;
  /** Fault kinds to draw from (default all). */
  kinds?: readonly FaultKind[];
  /** Where a failing run's history goes. */
  saveDir?: string;
  log?: (line: string) => void;
  /**
   * A cluster on hosts to run on, shared with other runs (each run's files live under a
   * directory of its own); its owner stops it. Default: a fresh cluster, stopped after the run.
   */
  shared?: SharedHosts;
}

export interface SharedHosts {
  cluster: TestCluster;
  hosts: ClusterOnHosts;
  nemesis: Nemesis;
}

export interface RunResult {
  seed: number;
  ok: boolean;
  ops: number;
  faults: string[];
  faultCounts: Record<string, number>;
  checks: CheckReport[];
  /** Set when the run failed: where its history and logs are. */
  savedTo?: string;
  /** This run's host namespaces still there after its cluster stopped (none expected). */
  namespacesLeft?: string[];
  replay: string;
}

function run(argv: string[], timeoutMs: number, onStdout?: (all: string) => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function replayCommand(seed: number, seconds: number, kinds?: readonly FaultKind[]): string {
  return `make nemesis SEED=${seed} RUN_SECONDS=${seconds}${kinds ? ` KINDS=${kinds.join(',')}` : ''}`;
}

/** `ip netns exec <client ns> env <credentials>`: how every client process is started. */
export function inClientHost(cluster: ClusterOnHosts): string[] {
  const creds = cluster.tls ? [`DFS_TLS_DIR=${cluster.tls.client}`, `DFS_ADMIN_TLS_DIR=${cluster.tls.admin}`] : ['DFS_INSECURE=1'];
  return ['ip', 'netns', 'exec', cluster.network.client.ns, 'env', ...creds];
}

/** Runs `node ARGS` inside the client host. */
export function clientProcess(cluster: ClusterOnHosts, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run([...inClientHost(cluster), process.execPath, ...args], timeoutMs);
}

/** Runs `dfs` inside the client host. */
export function dfsInClient(cluster: ClusterOnHosts, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const masters = cluster.masters.map((m) => `${m.host.name}:7001`).join(',');
  return run([...inClientHost(cluster), `DFS_MASTERS=${masters}`, process.execPath, DFS_BIN, ...args], timeoutMs);
}

/** The leader's id, asked from the client host by a fresh process; undefined when none answers. */
export async function leaderOf(cluster: ClusterOnHosts): Promise<string | undefined> {
  const r = await dfsInClient(cluster, ['admin', 'masters', 'list', '--json'], 15_000);
  if (r.code !== 0) return undefined;
  const masters = JSON.parse(r.stdout) as Array<{ id: string; role: string }>;
  return masters.find((m) => m.role === 'leader')?.id;
}

/** A cluster on hosts and its nemesis; `stopShared` ends both. */
export async function startShared(): Promise<SharedHosts> {
  const { cluster, hosts } = await startHostsCluster();
  return { cluster, hosts, nemesis: new Nemesis(hosts) };
}

export async function stopShared(shared: SharedHosts): Promise<void> {
  await shared.nemesis.stop();
  await shared.cluster.stop();
}

export async function startHostsCluster(): Promise<{ cluster: TestCluster; hosts: ClusterOnHosts }> {
  const cluster = await TestCluster.start({
    masters: 3,
    chunkservers: 4,
    chunkSize: 64 * 1024,
    deadAfter: '4s',
    extraArgs: ['--hosts', '--chunkserver-args', '--heartbeat 500ms'],
    // Certificates for every node, seven processes and an election: slow on a loaded machine.
    readyTimeoutMs: 240_000,
  });
  return { cluster, hosts: cluster.info as unknown as ClusterOnHosts };
}

async function applyFault(kind: FaultKind, n: Nemesis, hosts: ClusterOnHosts, prng: Prng, signal: AbortSignal): Promise<Fault | undefined> {
  const masters = hosts.masters.map((m) => m.id);
  const chunkservers = hosts.chunkservers.map((c) => c.id);
  const all = [...masters, ...chunkservers, 'client'];
  const needLeader = async (): Promise<string> => (await leaderOf(hosts)) ?? prng.pick(masters);
  switch (kind) {
    case 'isolate-leader': {
      const leader = await needLeader();
      return n.partition(kind, [leader], all.filter((h) => h !== leader));
    }
    case 'halves': {
      const s = shuffle(prng, all);
      const cut = 1 + prng.int(s.length - 1);
      return n.partition(kind, s.slice(0, cut), s.slice(cut));
    }
    case 'bridge': {
      // Two sides that cannot talk, one master in the middle hearing both (Jepsen's "bridge").
      const [a, b, mid] = shuffle(prng, masters) as [string, string, string];
      const rest = shuffle(prng, [...chunkservers, 'client']);
      const half = Math.floor(rest.length / 2);
      const left = [a, ...rest.slice(0, half)];
      const right = [b, ...rest.slice(half)];
      const f = n.partition(kind, left, right);
      return { ...f, detail: `${f.detail} (bridged by ${mid})` };
    }
    case 'one-way': {
      const leader = await needLeader();
      const other = prng.pick(all.filter((h) => h !== leader));
      return prng.chance(0.5) ? n.oneWay(leader, other) : n.oneWay(other, leader);
    }
    case 'chunkserver-cut-from-masters':
      return n.cut(kind, prng.pick(chunkservers), masters);
    case 'client-cut-from-leader':
      return n.cut(kind, 'client', [await needLeader()]);
    case 'loss':
      return n.loss(10);
    case 'link-down':
      return n.linkDown(prng.pick([...masters, ...chunkservers]));
    case 'kill':
      return n.kill(prng.pick([...masters, ...chunkservers]));
    case 'kill-leader':
      return n.kill(await needLeader());
    case 'pause':
      return n.pause(prng.pick([...masters, ...chunkservers]));
    case 'rolling-restart':
      return n.rollingRestart(1500, signal);
  }
}

export async function runNemesis(opts: RunOptions): Promise<RunResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const kinds = opts.kinds ?? FAULT_KINDS;
  const replay = replayCommand(opts.seed, opts.seconds, opts.kinds);
  log(`nemesis: seed ${opts.seed}, ${opts.seconds} s, faults from ${kinds.join(' ')}  (replay: ${replay})`);
  const work = mkdtempSync(join(tmpdir(), 'dfs-nemesis-'));
  const prng = new Prng(opts.seed);
  const faults: string[] = [];
  const phase = phaseTimer(log);
  const { cluster, hosts, nemesis } = opts.shared ?? (await startShared());
  phase('cluster up');
  const countsBefore = new Map(nemesis.counts);
  const masters = hosts.masters.map((m) => `${m.host.name}:7001`).join(',');
  const root = ['--root', `/nemesis-${opts.seed}-${Date.now()}`];
  const stop = new AbortController();
  let result: RunResult | undefined;
  try {
    // The workload sets up its files, says "started", and runs; the faults begin then, and
    // stop at the run's nominal end, so that calls still in flight finish on a healed network.
    let started!: () => void;
    const isStarted = new Promise<void>((resolve) => (started = resolve));
    const workload = run(
      [...inClientHost(hosts), process.execPath, join(__dirname, 'workload.js'), 'run', '--masters', masters, '--seed', String(opts.seed), '--seconds', String(opts.seconds), '--dir', work, ...root],
      opts.seconds * 1000 + 180_000,
      (out) => out.includes('started\n') && started(),
    ).finally(() => {
      started();
      stop.abort();
    });
    await isStarted;
    phase('setup');
    const endAt = Date.now() + opts.seconds * 1000;

    // The schedule: a fault, held 3–8 s, healed, 2–4 s of calm; kinds in a seeded order, each
    // used before any repeats.
    const schedule = async (): Promise<void> => {
      let bag: FaultKind[] = [];
      while (!stop.signal.aborted && Date.now() < endAt) {
        if (bag.length === 0) bag = shuffle(prng, kinds);
        const kind = bag.pop()!;
        const hold = 3000 + prng.int(5000);
        const calm = 2000 + prng.int(2000);
        const fault = await applyFault(kind, nemesis, hosts, prng, stop.signal);
        if (fault) {
          faults.push(fault.detail);
          log(`nemesis: ${fault.detail}`);
          await sleep(hold, stop.signal);
          await fault.heal();
        }
        await sleep(calm, stop.signal);
      }
    };
    const [w] = await Promise.all([workload, schedule()]);
    if (w.code !== 0) throw new Error(`workload failed (exit ${w.code}): ${w.stderr.slice(-2000)}`);
    await nemesis.healAll();
    phase('workload and faults');
    log('nemesis: every fault healed; reading back');

    const v = await run(
      [...inClientHost(hosts), process.execPath, join(__dirname, 'workload.js'), 'verify', '--masters', masters, '--dir', work, '--timeout', '90', ...root],
      240_000,
    );
    if (v.code !== 0) throw new Error(`verify failed (exit ${v.code}): ${v.stderr.slice(-2000)}`);
    const final = JSON.parse(readFileSync(join(work, 'final.json'), 'utf8')) as FinalState;
    phase(`verify (fsck healthy after ${final.fsck.waitedMs} ms)`);
    const history = readHistory(join(work, 'history.jsonl'));
    const checks = [checkMetadata(history, final), checkAppends(history, final), checkData(history, final)];
    phase('checks');
    result = {
      seed: opts.seed,
      ok: checks.every((c) => c.ok),
      ops: history.length,
      faults,
      faultCounts: Object.fromEntries([...nemesis.counts].map(([k, n]) => [k, n - (countsBefore.get(k) ?? 0)]).filter(([, n]) => (n as number) > 0)),
      checks,
      replay,
    };
  } finally {
    stop.abort();
    if (!opts.shared) await nemesis.stop();
    if (!result?.ok) {
      // Keep what explains the failure: the history, the final state, every node's log.
      const saveTo = join(opts.saveDir ?? join(process.cwd(), 'nemesis-failures'), `seed-${opts.seed}-${Date.now()}`);
      mkdirSync(saveTo, { recursive: true });
      cpSync(work, saveTo, { recursive: true });
      for (const n of nemesis.nodes) cpSync(n.log, join(saveTo, `${n.id}.log`), { force: true });
      writeFileSync(join(saveTo, 'faults.txt'), faults.join('\n') + '\n');
      if (result) result.savedTo = saveTo;
      log(`nemesis: FAILED; history saved in ${saveTo}; replay with: ${replay}`);
    }
    if (!opts.shared) {
      await cluster.stop();
      phase('stop');
      const left = namespacesLeft(hostsPrefix(hosts.network.bridgeNs));
      if (result) result.namespacesLeft = left;
      if (left.length > 0) log(`nemesis: namespaces left behind: ${left.join(' ')}`);
    }
  }
  return result!; // set, or the try block threw
}

/** Logs how long each phase of a run took (where a CI run's minutes go). */
function phaseTimer(log: (line: string) => void): (name: string) => void {
  let last = performance.now();
  return (name) => {
    const now = performance.now();
    log(`nemesis: ${name}: ${((now - last) / 1000).toFixed(1)} s`);
    last = now;
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
