#!/usr/bin/env node
'use strict';
// Thin launcher so `npx --no-install dfs` works from the repo root after `make build`.
// Node 20 has no module.enableCompileCache (22.1+): v8-compile-cache keeps V8's compiled
// code of every module in the temp dir, which roughly halves a short command's start-up.
// DISABLE_V8_COMPILE_CACHE=1 switches it off.
try {
  require('v8-compile-cache');
} catch {
  // Optional: without it commands only start slower.
}
try {
  require('../dist/src/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/src/main.js')) {
    process.stderr.write('dfs: not built yet; run `make build` first\n');
    process.exit(1);
  }
  throw err;
}
