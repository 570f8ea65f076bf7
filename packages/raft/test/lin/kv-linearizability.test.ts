import { strict as assert } from 'node:assert';
import { SimFailure } from '../sim/failure.js';
import { simIt } from '../sim/harness.js';
import { runKvScenario } from './kv-scenario.js';

describe('linearizability of a key-value service on Raft (ReadIndex reads, thesis 6.4)', function () {
  this.timeout(120_000);
  simIt('concurrent clients under partitions, crashes and a lossy network see a linearizable history', (seed) => {
    const r = runKvScenario({ seed });
    if (!r.ok) throw new SimFailure(`history of ${r.ops} operations is not linearizable (key ${r.badKey}); faults:\n        ${r.faults.join('\n        ')}`);
    assert.ok(r.ops > 100, `only ${r.ops} operations completed`);
  }, [1, 2, 3]);

  it('the checker catches stale reads served by a deposed leader without ReadIndex', () => {
    let caught = 0;
    for (let seed = 1; seed <= 5; seed++) if (!runKvScenario({ seed, staleReads: true }).ok) caught++;
    assert.ok(caught > 0, 'local reads without ReadIndex were never caught');
  });
});
