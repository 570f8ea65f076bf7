import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { randomInt } from 'node:crypto';
import { hostsPrefix, namespacesLeft, rootNftTables } from './cleanup.js';
import { summary } from './main.js';
import { join } from 'node:path';
import { clientProcess, dfsInClient, inClientHost, leaderOf, runNemesis, startShared, stopShared, type FaultKind, type SharedHosts } from './run.js';
import type { ClusterOnHosts } from './nemesis.js';
import { waitFor } from '@dfs/testkit';

/*
 * The whole system across "hosts" (network namespaces), under a nemesis. Root only (network
 * namespaces, nftables): skipped otherwise. `make nemesis` runs the long version.
 *
 * One cluster serves every test here (starting seven processes with certificates is most of a
 * run's cost on a loaded machine); each schedule's files live under a directory of its own, and
 * every fault is healed before the next test.
 */

const isRoot = process.getuid?.() === 0;
const SECONDS = Number(process.env.DFS_NEMESIS_SECONDS ?? 25);

function ns(nsName: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', nsName, ...args], { encoding: 'utf8' });
}

/** The time of the first JSON log line at or after `since` that `match` accepts. */
function logAfter(path: string, since: number, match: (line: Record<string, unknown>) => boolean): number | undefined {
  for (const text of readFileSync(path, 'utf8').split('\n')) {
    if (!text.startsWith('{')) continue;
    const line = JSON.parse(text) as Record<string, unknown>;
    const time = Date.parse(String(line.time)); // ISO timestamps (the telemetry logger)
    if (time >= since && match(line)) return time;
  }
  return undefined;
}

/** A FUSE mount in the client host (time-mount.js), its calls timed inside that host. */
class MountProbe {
  private readonly lines: string[] = [];
  private waiting: (() => void) | undefined;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (l) => {
      this.lines.push(l);
      this.waiting?.();
    });
  }

  static async start(hosts: ClusterOnHosts): Promise<MountProbe> {
    const masters = hosts.masters.map((m) => `${m.host.name}:7001`).join(',');
    const argv = [...inClientHost(hosts), process.execPath, join(__dirname, 'time-mount.js'), masters];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const probe = new MountProbe(child);
    const ready = await probe.next(150_000);
    assert.equal(ready, 'ready', `time-mount: ${ready} ${err}`);
    return probe;
  }

  private async next(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.child.exitCode !== null) return `exited ${this.child.exitCode}`;
      if (Date.now() > deadline) return 'timed out';
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 200);
      });
    }
    return this.lines.shift()!;
  }

  /** Milliseconds one mkdir through the mount took. */
  async mkdir(name: string): Promise<number> {
    this.child.stdin.write(`mkdir ${name}\n`);
    const answer = await this.next(60_000);
    const m = /^took (\d+)$/.exec(answer);
    assert.ok(m, `mkdir ${name} through the mount: ${answer}`);
    return Number(m[1]);
  }

  async stop(): Promise<void> {
    this.child.stdin.end();
    await waitFor('the mount probe to exit', () => this.child.exitCode !== null || this.child.signalCode !== null, 40_000, 100).catch(() => this.child.kill('SIGKILL'));
  }
}

describe('hosts and the partition nemesis', function () {
  this.timeout(300_000);
  let rootTablesBefore = '';
  let shared: SharedHosts | undefined;

  before(async function () {
    if (!isRoot) this.skip();
    rootTablesBefore = rootNftTables();
    shared = await startShared();
  });

  after(async () => {
    if (!isRoot) return;
    if (!shared) return;
    await stopShared(shared);
    // Only this cluster's: a `make nemesis` may be running beside the tests.
    assert.deepEqual(namespacesLeft(hostsPrefix(shared.hosts.network.bridgeNs)), [], 'every namespace is deleted once the cluster stops');
    assert.equal(rootNftTables(), rootTablesBefore, 'nothing added to the root namespace\'s nftables');
  });

  it('runs each node on a host of its own, dialled by host name, and a fresh dfs process, a running mount and every chunkserver find a new leader fast when the leader\'s host is cut off', async () => {
    const { hosts, nemesis } = shared!;
    let mount: MountProbe | undefined;
    let fault: { heal(): Promise<void> | void } | undefined;
    try {
      for (const h of hosts.network.hosts) {
        assert.match(ns(h.ns, ['ip', '-4', '-br', 'addr', 'show', 'dev', 'eth0']), new RegExp(`${h.address.replace(/\./g, '\\.')}/16`));
        assert.equal(ns(h.ns, ['sysctl', '-n', 'net.ipv4.conf.all.route_localnet']).trim(), '1');
        assert.ok(h.address.startsWith('127.77.'));
      }
      assert.deepEqual(hosts.masters.map((m) => m.args[m.args.indexOf('--advertise') + 1]), ['m1:7001', 'm2:7001', 'm3:7001']);

      // A fresh client's first call, timed inside its own process (a shared machine stretches
      // process start-up; that is not what is measured). Its cost with every master up is the ceiling's base.
      const firstCall = async (path: string): Promise<number> => {
        const r = await clientProcess(hosts, [join(__dirname, 'time-first-call.js'), hosts.masters.map((m) => `${m.host.name}:7001`).join(','), path]);
        assert.equal(r.code, 0, r.stderr);
        return Number(r.stdout.trim());
      };
      const baseline = Math.max(await firstCall('/before-1'), await firstCall('/before-2'));

      // A mount in the client host, working before the cut (it knows the old leader).
      mount = await MountProbe.start(hosts);
      const mountBaseline = await mount.mkdir('mount-before');

      const old = await waitFor('a leader', () => leaderOf(hosts), 90_000, 500);
      const cutAt = Date.now();
      fault = nemesis.partition('isolate-leader', [old], nemesis.hostNames.filter((h) => h !== old));
      // Wait (outside the timing) until the majority has elected someone else.
      const next = await waitFor('a new leader', async () => {
        const l = await leaderOf(hosts);
        return l && l !== old ? l : undefined;
      }, 90_000, 200);
      const took = await firstCall('/after-election');
      process.stderr.write(`      a fresh client's first call with the leader ${old} cut off: ${took} ms (new leader ${next}); with every master up: ${baseline} ms\n`);
      // The bounds: never a per-call deadline waited out on the unreachable master (3 s in
      // time-first-call.js, the mount's default 5 s) on top of the call's cost before the cut;
      // the figures printed are what to read (the goal is 2 s; a loaded machine stretches them).
      assert.ok(took < baseline + 3000, `took ${took} ms; ${baseline} ms with every master up`);

      // The running mount's first call since the cut: its pool still points at the old leader.
      const mountTook = await mount.mkdir('mount-after-election');
      process.stderr.write(`      the running mount's first call with the leader ${old} cut off: ${mountTook} ms; before the cut: ${mountBaseline} ms\n`);
      assert.ok(mountTook < mountBaseline + 5000, `the mount took ${mountTook} ms; ${mountBaseline} ms before the cut`);

      // Every chunkserver obeys the new leader soon after its election: from the leader's own
      // log line to each chunkserver's "master leader found" (one machine, one clock).
      const leaderLog = hosts.masters.find((m) => m.id === next)!.log;
      const elected = logAfter(leaderLog, cutAt, (l) => String(l.msg).startsWith('became leader'));
      assert.ok(elected, `${next} logged its election: ${readFileSync(leaderLog, 'utf8').slice(-3000)}`);
      const found = await waitFor('every chunkserver to follow the new leader', () => {
        const times = hosts.chunkservers.map((c) => logAfter(c.log, cutAt, (l) => l.msg === 'master leader found' && String(l.leader).startsWith(`${next}:`)));
        return times.every((t) => t !== undefined) ? (times as number[]) : undefined;
      }, 30_000, 100);
      const lags = found.map((t) => t - elected);
      process.stderr.write(`      chunkservers following ${next}, ms after its election: ${lags.join(', ')} (heartbeat every 500 ms)\n`);
      assert.ok(Math.max(...lags) < 5000, `chunkservers followed the new leader ${lags.join(', ')} ms after its election`);
      // The command-line tool, a fresh process too, works (and exits) while the old leader is unreachable.
      const cli = await dfsInClient(hosts, ['mkdir', '-p', '/from-the-cli'], 60_000);
      assert.equal(cli.code, 0, cli.stderr);
    } finally {
      await fault?.heal();
      await mount?.stop();
    }
  });

  const schedules: Array<{ name: string; kinds: FaultKind[] }> = [
    { name: 'partitions: leader isolated, random halves, a bridge, one-way drops', kinds: ['isolate-leader', 'halves', 'bridge', 'one-way'] },
    { name: 'targeted: a chunkserver cut from the masters, the client cut from the leader, 10% loss, a link down', kinds: ['chunkserver-cut-from-masters', 'client-cut-from-leader', 'loss', 'link-down'] },
    { name: 'processes: SIGKILL, SIGKILL of the leader, SIGSTOP, a rolling restart', kinds: ['kill', 'kill-leader', 'pause', 'rolling-restart'] },
  ];
  for (const s of schedules) {
    it(`keeps metadata linearizable, appends whole, data intact and fsck healthy under ${s.name}`, async () => {
      const seed = Number(process.env.DFS_NEMESIS_SEED ?? randomInt(1, 2 ** 31));
      const result = await runNemesis({ seed, seconds: SECONDS, kinds: s.kinds, shared, log: (l) => process.stderr.write(`      ${l}\n`) });
      process.stderr.write(summary(result).replace(/^/gm, '      ') + '\n');
      assert.ok(result.faults.length > 0, 'the schedule injected faults');
      assert.ok(result.ops > 0, 'the workloads ran');
      assert.ok(result.ok, `anomalies (replay: ${result.replay}; history in ${result.savedTo}):\n${result.checks.flatMap((c) => c.anomalies).join('\n')}`);
    });
  }
});
