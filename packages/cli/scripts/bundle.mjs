// `make build`: bundles the CLI into one file, dist/dfs.cjs, that bin/dfs.js loads with a V8
// code cache. Loading ~200 modules one by one (resolve, read, compile) was most of a short
// command's start-up; one minified file compiled from cache is about half of that.
// Native modules stay outside the bundle; daemons run dist/src/main.js, not the bundle.
// So do packages only some commands load, on first use (src/lazy.ts): they are required from
// node_modules then, and every other command neither reads nor compiles them (this machine
// reads and decodes a source file at ~100-200 MB/s, so each MB costs a start-up ~10 ms).
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..');
// The code caches (one per command, bin/dfs.js) belong to the old bundle: V8 would reject them.
for (const f of readdirSync(join(cli, 'dist'))) if (f.startsWith('dfs.cjs.') && f.endsWith('v8cache')) rmSync(join(cli, 'dist', f), { force: true });
await build({
  entryPoints: [join(cli, 'dist', 'src', 'main.js')],
  outfile: join(cli, 'dist', 'dfs.cjs'),
  bundle: true,
  minify: true,
  keepNames: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: [
    ...['better-sqlite3', 'fuse-native', '@node-rs/crc32', '@dfs/master', '@dfs/chunkserver'],
    // Loaded by a few commands only: config files, a progress bar on a terminal, the CA tools,
    // the daemons' telemetry, grpc-js's channelz.
    ...['yaml', 'cli-progress', '@peculiar/x509', 'reflect-metadata', '@dfs/telemetry', '@grpc/proto-loader'],
  ],
  // ASCII only (non-ASCII escaped, esbuild's default, made explicit): bin/dfs.js reads it as latin1.
  charset: 'ascii',
  logLevel: 'error',
});
