import assert from 'node:assert/strict';
import { DfsError, ErrorCode } from '@dfs/proto';
import { Prng } from '@dfs/testkit';
import { chooseExcess, choosePlacement, type PlacementNode } from '../src/placement.js';


const GB = 1024 ** 3;
function node(id: string, rack: string, freeGb = 100): PlacementNode {
  return { id, rack, freeBytes: freeGb * GB };
}
const ids = (ns: PlacementNode[]) => ns.map((n) => n.id);

describe('placement policy', () => {
  const sixOnThreeRacks = [
    node('a1', 'A'), node('a2', 'A'), node('b1', 'B'), node('b2', 'B'), node('c1', 'C'), node('c2', 'C'),
  ];

  it('picks distinct chunkservers, one per rack when there are enough racks', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const got = choosePlacement({ nodes: sixOnThreeRacks, count: 3, minCount: 3, random: new Prng(seed).next });
      assert.equal(new Set(ids(got)).size, 3);
      assert.deepEqual(new Set(got.map((n) => n.rack)), new Set(['A', 'B', 'C']));
    }
  });

  it('with two racks, splits three replicas 2 + 1', () => {
    const nodes = [node('a1', 'A'), node('a2', 'A'), node('b1', 'B'), node('b2', 'B')];
    for (let seed = 1; seed <= 20; seed++) {
      const racks = choosePlacement({ nodes, count: 3, minCount: 3, random: new Prng(seed).next }).map((n) => n.rack).sort();
      assert.ok(racks.join('') === 'AAB' || racks.join('') === 'ABB', racks.join(''));
    }
  });

  it('honours exclude and never picks nodes low on space', () => {
    const nodes = [node('a', 'A'), node('b', 'B'), node('c', 'C', 0.001), node('d', 'D')];
    for (let seed = 1; seed <= 20; seed++) {
      const got = choosePlacement({
        nodes, count: 2, minCount: 2, exclude: new Set(['a']), minFreeBytes: GB, random: new Prng(seed).next,
      });
      assert.deepEqual(ids(got).sort(), ['b', 'd']);
    }
  });

  it('NOT_ENOUGH_CHUNKSERVERS below minCount; fewer than count is allowed down to minCount', () => {
    const nodes = [node('a', 'A'), node('b', 'B')];
    assert.equal(choosePlacement({ nodes, count: 3, minCount: 2 }).length, 2);
    assert.throws(
      () => choosePlacement({ nodes, count: 3, minCount: 3 }),
      (e: unknown) => e instanceof DfsError && e.code === ErrorCode.NOT_ENOUGH_CHUNKSERVERS,
    );
    assert.throws(() => choosePlacement({ nodes: [], count: 1, minCount: 1 }), DfsError);
  });

  it('favours free space: a node with 10x the free bytes is chosen far more often', () => {
    const nodes = [node('big', 'A', 1000), node('small', 'A', 100)];
    const random = new Prng(7).next;
    let big = 0;
    for (let i = 0; i < 2000; i++) if (choosePlacement({ nodes, count: 1, minCount: 1, random })[0]!.id === 'big') big++;
    assert.ok(big > 1650 && big < 1990, `big chosen ${big}/2000`);
  });

  it('fills a new empty node gradually: at most about twice a typical node\'s share', () => {
    const nodes = [node('n1', 'A', 100), node('n2', 'A', 100), node('n3', 'A', 100), node('new', 'A', 100_000)];
    const random = new Prng(11).next;
    let fresh = 0;
    for (let i = 0; i < 4000; i++) if (choosePlacement({ nodes, count: 1, minCount: 1, random })[0]!.id === 'new') fresh++;
    // Capped at 2x the median (100): weight 200 of 500, i.e. ~40% — not ~100%.
    assert.ok(fresh > 1400 && fresh < 1800, `new node chosen ${fresh}/4000`);
  });

  it('re-replication avoids holders and prefers racks the holders do not use', () => {
    const holders = [node('a1', 'A'), node('b1', 'B')];
    for (let seed = 1; seed <= 20; seed++) {
      const [t] = choosePlacement({ nodes: sixOnThreeRacks, count: 1, minCount: 1, holders, random: new Prng(seed).next });
      assert.equal(t!.rack, 'C');
    }
  });

  it('is deterministic for a given random source', () => {
    const a = choosePlacement({ nodes: sixOnThreeRacks, count: 3, minCount: 3, random: new Prng(42).next });
    const b = choosePlacement({ nodes: [...sixOnThreeRacks].reverse(), count: 3, minCount: 3, random: new Prng(42).next });
    assert.deepEqual(ids(a), ids(b));
  });

  it('chooseExcess drops from the most crowded rack, the fullest node first', () => {
    const v = chooseExcess([node('a1', 'A', 50), node('a2', 'A', 10), node('b1', 'B', 1)]);
    assert.equal(v!.id, 'a2');
  });
});
