import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { namespacesLeft, rootNftTables } from './cleanup.js';
import { summary } from './main.js';
import { join } from 'node:path';
import { clientProcess, dfsInClient, leaderOf, runNemesis, startHostsCluster, type FaultKind } from './run.js';
import { Nemesis } from './nemesis.js';
import { waitFor } from '@dfs/testkit';

/*
 * The whole system across "hosts" (network namespaces), under a nemesis. Root only (network
 * namespaces, nftables): skipped otherwise. `make nemesis` runs the long version.
 */

const isRoot = process.getuid?.() === 0;
const SECONDS = Number(process.env.DFS_NEMESIS_SECONDS ?? 25);

function ns(nsName: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', nsName, ...args], { encoding: 'utf8' });
}

describe('hosts and the partition nemesis', function () {
  this.timeout(300_000);
  let rootTablesBefore = '';

  before(function () {
    if (!isRoot) this.skip();
    rootTablesBefore = rootNftTables();
  });

  afterEach(() => {
    if (!isRoot) return;
    assert.deepEqual(namespacesLeft(), [], 'every namespace is deleted after a test');
    assert.equal(rootNftTables(), rootTablesBefore, 'nothing added to the root namespace\'s nftables');
  });

  it('runs each node on a host of its own, dialled by host name, and a fresh dfs process finds a new leader fast when the leader\'s host is cut off', async () => {
    const { cluster, hosts } = await startHostsCluster();
    const nemesis = new Nemesis(hosts);
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

      const old = await leaderOf(hosts);
      assert.ok(old, 'a leader');
      const fault = nemesis.partition('isolate-leader', [old], nemesis.hostNames.filter((h) => h !== old));
      // Wait (outside the timing) until the majority has elected someone else.
      const next = await waitFor('a new leader', async () => {
        const l = await leaderOf(hosts);
        return l && l !== old ? l : undefined;
      }, 90_000, 200);
      const took = await firstCall('/after-election');
      process.stderr.write(`      a fresh client's first call with the leader ${old} cut off: ${took} ms (new leader ${next}); with every master up: ${baseline} ms\n`);
      assert.ok(took < baseline + 2000, `took ${took} ms; ${baseline} ms with every master up`);
      // The command-line tool, a fresh process too, works (and exits) while the old leader is unreachable.
      const cli = await dfsInClient(hosts, ['mkdir', '-p', '/from-the-cli'], 60_000);
      assert.equal(cli.code, 0, cli.stderr);
      await fault.heal();
    } finally {
      await nemesis.stop();
      await cluster.stop();
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
      const result = await runNemesis({ seed, seconds: SECONDS, kinds: s.kinds, log: (l) => process.stderr.write(`      ${l}\n`) });
      process.stderr.write(summary(result).replace(/^/gm, '      ') + '\n');
      assert.ok(result.faults.length > 0, 'the schedule injected faults');
      assert.ok(result.ops > 0, 'the workloads ran');
      assert.ok(result.ok, `anomalies (replay: ${result.replay}; history in ${result.savedTo}):\n${result.checks.flatMap((c) => c.anomalies).join('\n')}`);
    });
  }
});
