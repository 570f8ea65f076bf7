import { DfsClient, resolveSecurity } from '@dfs/client';

/*
 * A fresh client's first call, timed inside its process (node start-up and module loading,
 * which a loaded machine stretches, are not what is measured): prints the milliseconds.
 *   node time-first-call.js MASTERS PATH
 */
async function main(): Promise<void> {
  const [masters, path] = process.argv.slice(2);
  const client = new DfsClient({ masters: masters!.split(','), security: resolveSecurity().security, callTimeoutMs: 3000, retryWindowMs: 8000 });
  const t0 = performance.now();
  await client.mkdir(path!, { parents: true });
  process.stdout.write(`${Math.round(performance.now() - t0)}\n`);
  client.close();
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
