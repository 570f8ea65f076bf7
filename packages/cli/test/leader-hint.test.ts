import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLeaderHint, writeLeaderHint } from '../src/leader-hint.js';

describe('the leader hint kept between dfs commands', function () {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'dfs-leader-hint-'));
    env = { XDG_CACHE_HOME: dir };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('remembers the leader per masters list, in any order, and only a leader from that list', function () {
    const masters = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'];
    assert.equal(readLeaderHint(masters, env), undefined, 'no file yet');
    writeLeaderHint(masters, '127.0.0.1:7002', env);
    assert.equal(readLeaderHint([...masters].reverse(), env), '127.0.0.1:7002');
    assert.equal(readLeaderHint(['127.0.0.1:7001', '127.0.0.1:7002'], env), undefined, 'another list');
    // A file naming an address outside the list (edited, or another cluster's) gives no hint.
    const file = join(dir, 'dfs', 'leaders.json');
    const all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    all[Object.keys(all)[0]!] = '127.0.0.9:7001';
    writeFileSync(file, JSON.stringify(all));
    assert.equal(readLeaderHint(masters, env), undefined);
  });

  it('treats a broken file as no hint and keeps at most 32 lists, dropping the oldest', function () {
    mkdirSync(join(dir, 'dfs'), { recursive: true });
    writeFileSync(join(dir, 'dfs', 'leaders.json'), '{not json');
    assert.equal(readLeaderHint(['a:1'], env), undefined);
    for (let i = 0; i < 40; i++) writeLeaderHint([`h${i}:1`, `h${i}:2`], `h${i}:2`, env);
    const all = JSON.parse(readFileSync(join(dir, 'dfs', 'leaders.json'), 'utf8')) as Record<string, string>;
    assert.equal(Object.keys(all).length, 32);
    assert.equal(readLeaderHint(['h0:1', 'h0:2'], env), undefined, 'the oldest went');
    assert.equal(readLeaderHint(['h39:1', 'h39:2'], env), 'h39:2');
  });

  it('never fails or hangs a command when the cache directory cannot be written', function () {
    writeFileSync(join(dir, 'dfs'), 'a file where the directory would be');
    assert.doesNotThrow(() => writeLeaderHint(['a:1'], 'a:1', env));
    assert.equal(readLeaderHint(['a:1'], env), undefined);
    // Under /proc a recursive mkdir looped forever: run it in a child with a deadline.
    const code = `require(${JSON.stringify(require.resolve('../src/leader-hint.js'))}).writeLeaderHint(['a:1'], 'a:1', { XDG_CACHE_HOME: '/proc/dfs-no-such-dir' })`;
    const run = spawnSync(process.execPath, ['-e', code], { timeout: 20_000 });
    assert.equal(run.signal, null, 'killed at the deadline: it hung');
    assert.equal(run.status, 0, String(run.stderr));
  });
});
