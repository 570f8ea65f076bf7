import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DFS_BIN, runDfs } from '@dfs/testkit';
import { waitFor } from '@dfs/testkit';
import { freePort } from '@dfs/proto';

describe('config file', function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dfs-config-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('`dfs config check` accepts a good file and reports every problem of a bad one at once, with line numbers', async () => {
    const good = join(dir, 'good.yaml');
    writeFileSync(good, [
      'masters: [m1.example:7001, m2.example:7001, m3.example:7001]',
      'master: {id: m1, dir: /var/lib/dfs, listen: 0.0.0.0:7001, advertise: m1.example:7001, peers: {m1: m1.example:7001, m2: m2.example:7001, m3: m3.example:7001}, chunk-size: 64MiB}',
      'chunkserver: {id: c1, dir: /var/lib/dfs, listen: 0.0.0.0:7101, advertise: c1.example:7101, rack: r1, heartbeat: 1s}',
      'client: {read-policy: random}',
    ].join('\n'));
    const ok = await runDfs(['config', 'check', good]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /ok/);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, [
      'masters: [m1:7001, nope]',
      'master:',
      '  listen: 0.0.0.0:99999',
      '  chunk-size: lots',
      '  colour: blue',
      'chunkserver:',
      '  heartbeat: soon',
      'frobnicate: 1',
    ].join('\n'));
    const r = await runDfs(['config', 'check', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /6 problems/);
    for (const want of [/:1: masters: invalid address "nope"/, /:3: master\.listen/, /:4: master\.chunk-size/, /:5: master\.colour: unknown flag/, /:7: chunkserver\.heartbeat/, /:8: unknown section "frobnicate"/]) {
      assert.match(r.stderr, want);
    }
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('runs a master from the file, with DFS_* variables over the file and flags over both', async () => {
    const [filePort, envPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const cfg = join(dir, 'dfs.yaml');
    writeFileSync(cfg, [
      `masters: [127.0.0.1:${envPort}]`,
      'master:',
      '  id: m1',
      `  dir: ${join(dir, 'm1')}`,
      `  listen: 127.0.0.1:${filePort}`,
      '  log-level: error',
      '  http: 127.0.0.1:1',
      '  insecure: true',
      'client:',
      '  insecure: true',
    ].join('\n'));
    const master = spawn(process.execPath, [DFS_BIN, 'master', '--config', cfg, '--http', `127.0.0.1:${httpPort}`], {
      env: { ...process.env, DFS_LISTEN: `127.0.0.1:${envPort}` },
      stdio: 'ignore',
    });
    try {
      // The client takes its masters from the same file; the master listens where DFS_LISTEN says.
      await waitFor('the master to answer at DFS_LISTEN', async () => (await runDfs(['--config', cfg, 'mkdir', '-p', '/from-config'])).code === 0, 60_000, 300);
      const ls = await runDfs(['ls', '/', '--insecure', '--masters', `127.0.0.1:${envPort}`]);
      assert.match(ls.stdout, /from-config/);
      // --http on the command line beat the file's unusable 127.0.0.1:1.
      const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
      assert.equal(res.status, 200);
      const onFilePort = await runDfs(['ls', '/', '--insecure', '--masters', `127.0.0.1:${filePort}`], { timeoutMs: 60_000 });
      assert.notEqual(onFilePort.code, 0, 'nothing listens on the file\'s port: the variable won');
    } finally {
      master.kill('SIGKILL');
    }
  });
});
