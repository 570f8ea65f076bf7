import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hopTraceOn, markHop } from '../src/index.js';

/* The switch is read once at load, so the "on" case runs in a child process. */
describe('hop trace (make trace-small)', () => {
  it('is off without DFS_HOP_TRACE: marking records nothing', () => {
    assert.equal(process.env.DFS_HOP_TRACE, undefined);
    assert.equal(hopTraceOn, false);
    markHop('nothing', 1); // must not throw or write
  });

  it('with DFS_HOP_TRACE, a process writes its hops in order to <dir>/<pid>.hops with monotonic nanoseconds, also at exit', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hops-'));
    try {
      const index = require.resolve('../src/index.js');
      const script = `const t = require(${JSON.stringify(index)}); t.markHop('a', 7); t.markHop('b'); console.log(process.pid);`;
      const pid = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, DFS_HOP_TRACE: dir } }).toString().trim();
      assert.deepEqual(readdirSync(dir), [`${pid}.hops`]);
      const lines = readFileSync(join(dir, `${pid}.hops`), 'utf8').trim().split('\n').map((l) => l.split(' '));
      assert.deepEqual(lines.map(([hop, key]) => [hop, key]), [['a', '7'], ['b', '0']]);
      assert.ok(BigInt(lines[1]![2]!) >= BigInt(lines[0]![2]!));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
