import type { Command } from 'commander';
import { parseDuration, parseSize } from '@dfs/proto';
import { resolveSecurity } from '@dfs/client';
import { LocalCluster, waitUntilReady } from '../cluster/launcher.js';
import { stopWhenParentDies } from '../cluster/parent-watch.js';

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('run a local cluster');
  cluster
    .command('up')
    .description('start masters and chunkservers as child processes on 127.0.0.1; prints "ready" and writes DIR/cluster.json')
    .requiredOption('--dir <dir>', 'data directory for every node')
    .option('--masters <n>', 'number of masters (1, 3 or 5)', '3')
    .option('--chunkservers <n>', 'number of chunkservers', '4')
    .option('--base-port <port>', 'masters on P+1.., chunkservers on P+101..; 0 picks free ports', '7000')
    .option('--chunk-size <bytes>', 'chunk size')
    .option('--replication <n>', 'default replication factor')
    .option('--dead-after <duration>', 'declare a silent chunkserver dead after (e.g. 2s)')
    .option('--racks <n>', 'spread chunkservers over N racks')
    .option('--log-level <level>', 'log level of every node')
    .option('--chunkserver-args <args>', 'extra flags for every chunkserver, space-separated (e.g. "--scrub-interval 1s")')
    .option('--master-args <args>', 'extra flags for every master, space-separated (e.g. "--snapshot-every 500 --trash-interval 0")')
    .option('--hosts', 'root only: each node on a host of its own (a network namespace, 127.77.0.0/16 on a veth to a bridge); clients run with `ip netns exec <client ns>` (see cluster.json)')
    .option('--insecure', 'plaintext gRPC, no certificates (default: a CA in DIR/ca and mutual TLS everywhere)')
    .addHelpText('after', '\nExample:\n  dfs cluster up --dir ./.dfs-data --masters 3 --chunkservers 4')
    .action(async (o: Record<string, string | undefined>) => {
      const local = new LocalCluster({
        dir: o.dir!,
        masters: Number(o.masters),
        chunkservers: Number(o.chunkservers),
        basePort: Number(o.basePort),
        chunkSize: o.chunkSize ? parseSize(o.chunkSize) : undefined,
        replication: o.replication ? Number(o.replication) : undefined,
        deadAfter: o.deadAfter,
        racks: o.racks ? Number(o.racks) : undefined,
        logLevel: o.logLevel,
        ...(o.chunkserverArgs ? { chunkserverArgs: o.chunkserverArgs.split(' ').filter(Boolean) } : {}),
        ...(o.masterArgs ? { masterArgs: o.masterArgs.split(' ').filter(Boolean) } : {}),
        log: (line) => process.stderr.write(`dfs cluster: ${line}\n`),
        hosts: (o.hosts as unknown as boolean | undefined) === true,
        insecure: (o.insecure as unknown as boolean | undefined) === true,
      });
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        local.stop().then(() => process.exit(0), () => process.exit(1));
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      // Started by a test harness that died: stop everything, hosts included.
      stopWhenParentDies(stop);
      try {
        const info = await local.start();
        process.stderr.write(
          `masters: ${info.masters.map((m) => `${m.id}=${m.address} (http://${m.http}/)`).join(', ')}\n` +
            `chunkservers: ${info.chunkservers.map((c) => `${c.id}=${c.address}`).join(', ')}\n` +
            `export DFS_MASTERS=${info.masters.map((m) => m.address).join(',')}\n` +
            (info.tls ? `export DFS_TLS_DIR=${info.tls.client}   # mutual TLS; the admin's credentials: ${info.tls.admin}\n` : 'warning: --insecure: plaintext gRPC, nothing is authenticated\n') +
            (info.network
              ? `hosts: run clients with: ip netns exec ${info.network.client.ns} npx --no-install dfs ... (namespaces are removed when this stops)\n`
              : `status page: http://${info.masters[0]!.http}/ (any master's page; a follower's links to the leader)\n`),
        );
        process.stdout.write('ready\n');
      } catch (err) {
        await local.stop();
        throw err;
      }
    });

  cluster
    .command('wait-ready', { hidden: true })
    .description('wait until every master answers, a leader is elected and N chunkservers are live (used inside a host by `cluster up --hosts`)')
    .requiredOption('--masters <list>', 'master addresses host:port,...')
    .requiredOption('--chunkservers <n>', 'chunkservers that must be live')
    .option('--timeout <duration>', 'give up after', '60s')
    .option('--tls-dir <dir>', 'credentials directory (the cluster\'s admin)')
    .option('--insecure', 'plaintext gRPC')
    .action(async (o: Record<string, string>) => {
      const { security } = resolveSecurity({ tlsDir: o.tlsDir, insecure: (o.insecure as unknown as boolean | undefined) === true, role: 'admin' });
      // Its log (DIR/wait-ready.log) says what it is waiting for, every few seconds.
      let said = 0;
      const say = (problem: string): void => {
        if (Date.now() - said < 5000) return;
        said = Date.now();
        process.stderr.write(`${new Date().toISOString()} waiting: ${problem}\n`);
      };
      await waitUntilReady(o.masters!.split(',').filter(Boolean), Number(o.chunkservers), security, parseDuration(o.timeout!), undefined, say);
      // Done: exit now rather than when a connect still pending to some master times out.
      process.exit(0);
    });
}
