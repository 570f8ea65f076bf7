import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetadataStore } from '@dfs/master';

/*
 * node scripts/bench/dist/path-cache.js [DEPTH]: the master's Stat in process (no gRPC), with
 * the path-resolution cache and with the plain walk (one indexed lookup per component), in
 * alternating 1 s rounds of the same run, as a non-superuser (x checked on every ancestor).
 * The uncached row is the figure's "before" measured beside it (packages/master/DESIGN.md).
 */

type Walk = (comps: string[], caller: unknown) => unknown;
interface Internals {
  paths: { walk: Walk };
  ns: unknown;
}

const depth = Math.max(1, Number(process.argv[2] ?? 6));
const dir = mkdtempSync(join(tmpdir(), 'bench-path-cache-'));
const store = new MetadataStore(join(dir, 'meta.db'), { synchronous: 'OFF' });
try {
  let index = 0;
  const apply = (cmd: object): void => {
    store.apply(++index, Buffer.from(JSON.stringify({ v: 1, ...cmd })));
  };
  const base = depth > 1 ? '/' + Array.from({ length: depth - 1 }, (_, i) => `d${i}`).join('/') : '';
  if (base) apply({ type: 'Mkdir', path: base, parents: true, mode: 0o755, now: 1 });
  const FILES = 1000;
  for (let i = 0; i < FILES; i++) {
    apply({ type: 'CreateFile', path: `${base}/f${i}`, overwrite: false, replication: 3, mode: 0o644, chunkSize: 1024, clientId: 'c', now: 1, leaseExpiry: 2, inline: '' });
  }
  const caller = { user: 'bench', groups: ['users'], superuser: false };
  const statsPerSecond = (ms: number): number => {
    let n = 0;
    const end = Date.now() + ms;
    while (Date.now() < end) {
      for (let k = 0; k < 100; k++) store.stat(`${base}/f${(n + k) % FILES}`, caller as never);
      n += 100;
    }
    return Math.round(n / (ms / 1000));
  };
  // The same store, its cache bypassed: the walk every read did before the cache.
  const internals = store as unknown as Internals;
  const cached = internals.paths.walk.bind(internals.paths);
  const { walk } = require('@dfs/master/dist/src/state/permissions.js') as { walk: (ns: unknown, comps: string[], caller: unknown) => unknown };
  const uncached: Walk = (comps, c) => walk(internals.ns, comps, c);
  const rows: Array<[string, number]> = [];
  for (let round = 0; round < 3; round++) {
    internals.paths.walk = cached;
    rows.push(['with the path cache', statsPerSecond(1000)]);
    internals.paths.walk = uncached;
    rows.push(['walk per component', statsPerSecond(1000)]);
  }
  console.log(`path-cache: Stat of ${base}/fN (depth ${depth}) in process, non-superuser; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (2 cores)`);
  for (const [name, v] of rows) console.log(`${name.padEnd(22)} ${String(v).padStart(7)} stats/s`);
} finally {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
