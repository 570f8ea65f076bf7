import { Cluster } from '../sim/cluster.js';
import { KvStateMachine } from './kv-scenario.js';

/*
 * The leader-lease race, staged: a 3-node group with lease reads, the leader cut off, the
 * other two elect a leader and commit a write, while clients keep reading from the old
 * leader. Returns how many of its reads the old leader served from its lease after the
 * cut, and how many of those returned the old value after the new write had completed
 * (stale: not linearizable). The old leader's clock keeps real time; the followers' run
 * `fastClock` faster (0.09 = 9%), the case the drift bound is about.
 */
const enc = new TextEncoder();

export function leaseRace(seed: number, fastClock: number, maxDrift = 0.1): { leaseReads: number; stale: number } {
  const c = new Cluster({ n: 3, seed, lease: { maxDrift }, makeSm: () => new KvStateMachine() });
  const put = (i: number, v: string, cb?: (err: Error | undefined) => void): boolean =>
    c.nodes[i].propose(enc.encode(JSON.stringify({ op: 'put', k: 'k', v })), cb).isLeader;
  const old = c.checkOneLeader();
  c.nodes.forEach((n, i) => {
    if (i !== old) n.tickEvery = n.tickEvery / (1 + fastClock);
  });
  put(old, 'old');
  c.runFor(300);
  const before = c.nodes[old].leaseReadsServed;
  c.disconnect(old);
  let newWritten = false;
  let proposed = false;
  let stale = 0;
  for (let t = 0; t < 800; t += 2) {
    const invokedAfterWrite = newWritten;
    c.nodes[old].linearizableRead((err) => {
      if (err) return;
      const v = (c.nodes[old].sm as KvStateMachine).data.get('k');
      if (invokedAfterWrite && v !== 'new') stale++;
    });
    for (let i = 0; i < 3; i++) {
      if (i === old || proposed || !c.nodes[i].isLeader()) continue;
      proposed = put(i, 'new', (err) => {
        if (!err) newWritten = true;
      });
    }
    c.runFor(2);
  }
  return { leaseReads: c.nodes[old].leaseReadsServed - before, stale };
}
