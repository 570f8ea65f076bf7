import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DFS_BIN, REPO_ROOT, runDfs, TestCluster } from '@dfs/testkit';
import { sha256File } from '../lib/files.js';

/** Every file under `root`, relative, sorted. */
function treeFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

function assertOneLineError(stderr: string): void {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${stderr}`);
  assert.match(lines[0]!, /^dfs: /);
  assert.ok(!stderr.includes('    at '), 'no stack trace');
}

describe('dfs CLI without a cluster', function () {
  it('prints its version with --version and -V, and exits 0', async function () {
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'packages', 'cli', 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const run = await runDfs([flag]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `dfs ${version}\n`, flag);
      assert.equal(run.stderr, '');
    }
  });
});

describe('dfs CLI start-up: each command loads only its own module', function () {
  it('prints the same help for `dfs X --help` as `dfs help X`, which loads every command', async function () {
    this.timeout(120_000);
    for (const cmd of ['stat', 'put', 'admin', 'cluster', 'master', 'fsck', 'trash', 'ls']) {
      const own = await runDfs([cmd, '--help']);
      const all = await runDfs(['help', cmd]);
      assert.equal(own.code, 0, own.stderr);
      assert.equal(all.code, 0, all.stderr);
      assert.equal(own.stdout, all.stdout, `dfs ${cmd} --help`);
      assert.match(own.stdout, new RegExp(`^Usage: dfs ${cmd} `));
    }
    const sub = await runDfs(['admin', 'ca', '--help']);
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stdout, /^Usage: dfs admin ca /);
  });

  it('still gives usage errors their exit code 2 and one line, without a stack', async function () {
    for (const args of [['stat'], ['stat', '/x', '--bogus'], ['admin', 'nosuch'], ['nosuch']]) {
      const run = await runDfs(args);
      assert.equal(run.code, 2, `dfs ${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^error: /, `dfs ${args.join(' ')}`);
      assert.ok(!run.stderr.includes('    at '), `no stack trace: ${run.stderr}`);
    }
  });
});

describe('dfs CLI against a real cluster', function () {
  let cluster: TestCluster;
  let work: string;

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 4, chunkSize: 128 * 1024 });
    work = mkdtempSync(join(tmpdir(), 'dfs-cli-'));
  });

  after(async function () {
    await cluster?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('mkdir -p, ls --json, stat --json, mv, cp, cat and rm -r behave as documented', async function () {
    assert.equal((await cluster.dfs(['mkdir', '-p', '/cli/a/b/c'])).code, 0);
    assert.equal((await cluster.dfs(['mkdir', '-p', '/cli/a/b/c'])).code, 0, 'mkdir -p on an existing dir succeeds');
    const plain = await cluster.dfs(['mkdir', '/cli/a']);
    assert.equal(plain.code, 4, 'mkdir of an existing dir without -p: exists');
    assertOneLineError(plain.stderr);

    writeFileSync(join(work, 'hello.txt'), 'hello dfs\n');
    assert.equal((await cluster.dfs(['put', join(work, 'hello.txt'), '/cli/a/hello.txt', '-q'])).code, 0);
    const cat = await cluster.dfs(['cat', '/cli/a/hello.txt']);
    assert.equal(cat.stdout, 'hello dfs\n');

    const ls = await cluster.dfs(['ls', '/cli/a', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    const entries = JSON.parse(ls.stdout) as Array<{ name: string; type: string; size: number }>;
    assert.deepEqual(entries.map((e) => [e.name, e.type]).sort(), [['b', 'directory'], ['hello.txt', 'file']]);

    const stat = JSON.parse((await cluster.dfs(['stat', '/cli/a/hello.txt', '--json'])).stdout) as { size: number; type: string; replication: number };
    assert.equal(stat.size, 10);
    assert.equal(stat.type, 'file');
    assert.equal(stat.replication, 3);

    assert.equal((await cluster.dfs(['mv', '/cli/a/hello.txt', '/cli/a/b'])).code, 0);
    assert.equal((await cluster.dfs(['cat', '/cli/a/b/hello.txt'])).stdout, 'hello dfs\n');
    assert.equal((await cluster.dfs(['cp', '/cli/a/b/hello.txt', '/cli/a/b/c'])).code, 0, 'cp into a directory');
    assert.equal((await cluster.dfs(['cat', '/cli/a/b/c/hello.txt'])).stdout, 'hello dfs\n');
    assert.equal((await cluster.dfs(['cp', '/cli/a/b/hello.txt', '/cli/a/copy.txt'])).code, 0, 'cp to a new name');
    assert.equal((await cluster.dfs(['cat', '/cli/a/copy.txt'])).stdout, 'hello dfs\n');

    const rmNonEmpty = await cluster.dfs(['rm', '/cli/a']);
    assert.notEqual(rmNonEmpty.code, 0);
    assertOneLineError(rmNonEmpty.stderr);
    assert.equal((await cluster.dfs(['rm', '-r', '/cli/a'])).code, 0);
    assert.equal((await cluster.dfs(['stat', '/cli/a'])).code, 3);
  });

  it('puts and gets a tree of hundreds of files byte for byte', async function () {
    const src = join(work, 'tree');
    const expected = new Map<string, string>();
    for (let d = 0; d < 6; d++) {
      mkdirSync(join(src, `d${d}`, 'sub'), { recursive: true });
      for (let f = 0; f < 35; f++) {
        const rel = join(`d${d}`, f % 3 === 0 ? 'sub' : '', `f${f}.bin`);
        writeFileSync(join(src, rel), randomBytes(f * 97 + (f % 5 === 0 ? 200_000 : 0)));
      }
    }
    for (const rel of treeFiles(src)) expected.set(rel, await sha256File(join(src, rel)));
    assert.ok(expected.size >= 200);

    const put = await cluster.dfs(['put', '-r', src, '/cli/tree', '-q'], { timeoutMs: 300_000 });
    assert.equal(put.code, 0, put.stderr);
    const dst = join(work, 'tree-back');
    const get = await cluster.dfs(['get', '-r', '/cli/tree', dst, '-q'], { timeoutMs: 300_000 });
    assert.equal(get.code, 0, get.stderr);
    assert.deepEqual(treeFiles(dst), [...expected.keys()].sort());
    for (const [rel, digest] of expected) assert.equal(await sha256File(join(dst, rel)), digest, rel);
  });

  it('puts from stdin and gets to stdout', async function () {
    const payload = randomBytes(300_000);
    assert.equal((await cluster.dfs(['put', '-', '/cli/stdin.bin', '-q'], { input: payload })).code, 0);
    const out = await new Promise<Buffer>((resolve) => {
      const child = spawn(process.execPath, [DFS_BIN, 'get', '/cli/stdin.bin', '-'], { env: { ...process.env, ...cluster.env } });
      const parts: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => parts.push(d));
      child.on('close', () => resolve(Buffer.concat(parts)));
    });
    assert.ok(out.equals(payload));
  });

  it('ends quietly with exit 0 when the reader closes its stdout early (dfs cat | head -c 1)', async function () {
    assert.equal((await cluster.dfs(['put', '-', '/cli/epipe.bin', '-q'], { input: randomBytes(4 * 1024 * 1024) })).code, 0);
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [DFS_BIN, 'cat', '/cli/epipe.bin'], { env: { ...process.env, ...cluster.env } });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('close', (c) => resolve({ code: c, stderr: err }));
    });
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });

  it('gives each error its documented exit code and one line', async function () {
    writeFileSync(join(work, 'x.txt'), 'x');
    const missingLocal = await cluster.dfs(['put', join(work, 'does-not-exist'), '/cli/x']);
    assert.equal(missingLocal.code, 3);
    assertOneLineError(missingLocal.stderr);

    const missingRemote = await cluster.dfs(['get', '/cli/nope', join(work, 'nope')]);
    assert.equal(missingRemote.code, 3);
    assertOneLineError(missingRemote.stderr);
    assert.match(missingRemote.stderr, /\/cli\/nope/);

    assert.equal((await cluster.dfs(['put', join(work, 'x.txt'), '/cli/x', '-q'])).code, 0);
    const exists = await cluster.dfs(['put', join(work, 'x.txt'), '/cli/x']);
    assert.equal(exists.code, 4);
    assertOneLineError(exists.stderr);
    assert.equal((await cluster.dfs(['put', join(work, 'x.txt'), '/cli/x', '--overwrite', '-q'])).code, 0);

    const dirAsFile = await cluster.dfs(['cat', '/cli']);
    assert.notEqual(dirAsFile.code, 0);
    assertOneLineError(dirAsFile.stderr);

    const invalid = await cluster.dfs(['mkdir', '/cli/../etc']);
    assert.equal(invalid.code, 2);
    assertOneLineError(invalid.stderr);

    const usage = await cluster.dfs(['frobnicate']);
    assert.equal(usage.code, 2);
  });

  it('reports unreachable masters within a few seconds, naming the addresses tried', async function () {
    const started = Date.now();
    const res = await runDfs(['ls', '/'], { env: { ...cluster.env, DFS_MASTERS: '127.0.0.1:1,127.0.0.1:2' } });
    assert.equal(res.code, 5);
    assertOneLineError(res.stderr);
    assert.match(res.stderr, /127\.0\.0\.1:1/);
    assert.match(res.stderr, /127\.0\.0\.1:2/);
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
  });

  it('shows a progress bar on a terminal and none when piped', async function () {
    const file = join(work, 'progress.bin');
    writeFileSync(file, randomBytes(2 * 1024 * 1024));
    const piped = await cluster.dfs(['put', file, '/cli/progress-piped']);
    assert.equal(piped.code, 0, piped.stderr);
    assert.ok(!piped.stderr.includes('['), `no bar when piped: ${piped.stderr}`);
    assert.match(piped.stderr, /bytes in .*MB\/s/, 'one-line summary');

    // util-linux `script` gives the command a pseudo-terminal.
    const cmd = `${process.execPath} ${DFS_BIN} put ${file} /cli/progress-tty`;
    const tty = await new Promise<string>((resolve) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...cluster.env } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', () => resolve(out));
    });
    assert.match(tty, /\[[█░]+\]|\d+%/, `bar on a terminal: ${JSON.stringify(tty.slice(0, 400))}`);
  });

  it('documents exit codes in dfs help exit-codes', async function () {
    const res = await runDfs(['help', 'exit-codes']);
    assert.equal(res.code, 0);
    for (const n of ['0', '1', '2', '3', '4', '5']) assert.match(res.stdout, new RegExp(`^\\s+${n}\\s`, 'm'));
  });
});
