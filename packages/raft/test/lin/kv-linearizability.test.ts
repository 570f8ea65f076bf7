import { strict as assert } from 'node:assert';
import { SimFailure } from '../sim/failure.js';
import { simIt } from '../sim/harness.js';
import { runKvScenario } from './kv-scenario.js';
import { leaseRace } from './lease-bound.js';

describe('linearizability of a key-value service on Raft (ReadIndex reads, thesis 6.4)', function () {
  this.timeout(120_000);
  simIt('concurrent clients under partitions, crashes and a lossy network see a linearizable history', (seed) => {
    const r = runKvScenario({ seed });
    if (!r.ok) throw new SimFailure(`history of ${r.ops} operations is not linearizable (key ${r.badKey}); faults:\n        ${r.faults.join('\n        ')}`);
    assert.ok(r.ops > 100, `only ${r.ops} operations completed`);
  }, [1, 2, 3]);

  simIt('lease reads stay linearizable under the same faults, with clocks up to 9% fast (bound 10%)', (seed) => {
    const r = runKvScenario({ seed, lease: { maxDrift: 0.1 }, fastClock: 0.09 });
    if (!r.ok) throw new SimFailure(`history of ${r.ops} operations with lease reads is not linearizable (key ${r.badKey}); faults:\n        ${r.faults.join('\n        ')}`);
    assert.ok(r.leaseReads > 50, `only ${r.leaseReads} reads were served from the lease`);
  }, [1, 2, 3]);

  it('the checker catches stale reads served by a deposed leader without ReadIndex', () => {
    let caught = 0;
    for (let seed = 1; seed <= 5; seed++) if (!runKvScenario({ seed, staleReads: true }).ok) caught++;
    assert.ok(caught > 0, 'local reads without ReadIndex were never caught');
  });
});

describe('leader lease reads and the clock-drift bound (core/lease.ts)', function () {
  this.timeout(60_000);
  const seeds = [1, 2, 3, 4, 5, 6];

  it('a cut-off leader serves lease reads until the lease ends, and none is stale while clocks drift within the bound', () => {
    for (const seed of seeds) {
      const r = leaseRace(seed, 0.09);
      assert.ok(r.leaseReads > 0, `seed ${seed}: the cut-off leader served no read from its lease`);
      assert.equal(r.stale, 0, `seed ${seed}: ${r.stale} stale reads within the drift bound`);
    }
  });

  it('follower clocks 4x fast (far beyond the bound) let a cut-off leader serve stale reads: the bound is what keeps leases safe', () => {
    const stale = seeds.map((seed) => leaseRace(seed, 3).stale);
    assert.ok(stale.some((n) => n > 0), `no stale read in seeds ${seeds.join(',')}: ${stale.join(',')}`);
  });
});
