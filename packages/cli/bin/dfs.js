#!/usr/bin/env node
'use strict';
// Thin launcher so `npx --no-install dfs` works from the repo root after `make build`.
try {
  require('../dist/src/main.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/src/main.js')) {
    process.stderr.write('dfs: not built yet; run `make build` first\n');
    process.exit(1);
  }
  throw err;
}
