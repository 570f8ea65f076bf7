#!/usr/bin/env node
'use strict';
// Thin launcher so `npx --no-install dfs` works from the repo root after `make build`.
// It runs the start-up bundle (dist/dfs.cjs, made by `make build`) with a V8 code cache kept
// beside it when the bundle is newer than every compiled package, else dist/src/main.js.
// DFS_NO_BUNDLE=1 always runs dist/src/main.js.
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const bundle = path.join(dist, 'dfs.cjs');

/** The bundle exists and no package was compiled after it (a `tsc --build` alone leaves it stale). */
function bundleIsFresh() {
  if (process.env.DFS_NO_BUNDLE) return false;
  let built;
  try {
    built = fs.statSync(bundle).mtimeMs;
  } catch {
    return false;
  }
  const packages = path.join(__dirname, '..', '..');
  for (const name of fs.readdirSync(packages)) {
    try {
      if (fs.statSync(path.join(packages, name, 'dist', 'tsconfig.tsbuildinfo')).mtimeMs > built) return false;
    } catch {
      /* not a compiled package */
    }
  }
  return true;
}

/**
 * The name of the code cache: the command word (`dfs --config F stat /x` -> "stat", found by
 * the CLI's own commandNameOf). Each command keeps its own cache: a cache holds the functions
 * compiled by the run that wrote it, so one written by `dfs --version` or `dfs cluster up`
 * left `dfs stat` compiling grpc-js and TLS set-up on every run (~50 ms more CPU here than
 * with a cache written by a stat).
 */
function cacheKey(args) {
  const { commandNameOf } = require('../dist/src/command-table.js');
  const name = commandNameOf(args);
  if (name === undefined) return 'none';
  return /^[a-z]{1,20}$/.test(name) ? name : 'other';
}

/**
 * Compiles the bundle from its code cache when V8 accepts it; when it did not (none yet, or
 * a rebuilt bundle), writes one at exit if the command succeeded, so a typo or a failed
 * call does not leave a cache of its error path.
 */
function runBundle() {
  const vm = require('node:vm');
  const Module = require('node:module');
  const cacheFile = `${bundle}.${cacheKey(process.argv.slice(2))}.v8cache`;
  let cachedData;
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    /* first run */
  }
  // The bundle is ASCII (scripts/bundle.mjs): latin1 skips UTF-8 validation of ~0.8 MB.
  const script = new vm.Script(Module.wrap(fs.readFileSync(bundle, 'latin1')), { filename: bundle, cachedData });
  const mod = new Module(bundle, module);
  mod.filename = bundle;
  mod.paths = Module._nodeModulePaths(dist);
  if (cachedData === undefined || script.cachedDataRejected) {
    process.once('exit', (code) => {
      if (code !== 0) return;
      try {
        const tmp = `${cacheFile}.${process.pid}`;
        fs.writeFileSync(tmp, script.createCachedData());
        fs.renameSync(tmp, cacheFile);
      } catch {
        /* a read-only install: run without a cache */
      }
    });
  }
  script.runInThisContext().call(mod.exports, mod.exports, (id) => mod.require(id), mod, bundle, dist);
}

try {
  if (bundleIsFresh()) runBundle();
  else require('../dist/src/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/src/main.js')) {
    process.stderr.write('dfs: not built yet; run `make build` first\n');
    process.exit(1);
  }
  throw err;
}
