#!/usr/bin/env node
'use strict';
// Launcher for the dfs-mount command (scripts/dfs-mount runs this).
let main;
try {
  ({ main } = require('../dist/src/process/main.js'));
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('dist/src/process/main.js')) {
    process.stderr.write('dfs-mount: not built yet; run `make build` first\n');
    process.exit(1);
  }
  throw err;
}
main(process.argv.slice(2), __filename).then((code) => process.exit(code));
