import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { DfsError, ErrorCode } from '@dfs/proto';
import { createLogger } from '../src/index.js';

describe('createLogger: the one logger of every dfs process', () => {
  it('writes JSON lines to stderr tagged with the node id and pid, at the level asked for', () => {
    const script = `
      const { createLogger } = require(${JSON.stringify(require.resolve('../src/index.js'))});
      const log = createLogger('m7', 'info');
      log.debug({ hidden: true }, 'not at info');
      log.info({ handle: 42 }, 'replica deleted');
      log.child({ component: 'raft' }).warn({ term: 3 }, 'raft leader changed');
      process.exit(0); // synchronous writes: nothing is lost to an immediate exit`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2, run.stderr);
    assert.deepEqual(
      lines.map((l) => [l.level, l.node, l.pid, l.msg]),
      [
        [30, 'm7', run.pid, 'replica deleted'],
        [40, 'm7', run.pid, 'raft leader changed'],
      ],
    );
    assert.equal(lines[0]!.handle, 42);
    assert.equal(lines[1]!.component, 'raft');
    assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT/);
  });

  it('refuses an unknown level with a typed error naming the levels', () => {
    assert.throws(
      () => createLogger('m1', 'loud'),
      (err: unknown) => DfsError.is(err, ErrorCode.INVALID_ARGUMENT) && /unknown log level "loud" \(.*info.*\|silent\)/.test((err as Error).message),
    );
  });
});
