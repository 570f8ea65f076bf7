import { Cluster, ELECTION_TIMEOUT } from './cluster.js';
import { simIt } from './harness.js';

/*
 * Beyond 6.5840: membership change (thesis 4.1), leadership transfer (thesis 3.10) and
 * pre-vote (thesis 9.6), all under the same invariant checks.
 */
function runUntil(c: Cluster, what: string, limitMs: number, cond: () => boolean): void {
  const t0 = c.clock.now;
  while (!cond()) {
    if (c.clock.now - t0 > limitMs) c.fail(`timed out waiting until ${what}`);
    c.runFor(20);
  }
}

function isVoterEverywhere(c: Cluster, id: string, among: number[]): boolean {
  return among.every((i) => c.nodes[i].raw?.raft.conf.some((m) => m.id === id && m.voter) === true);
}

describe('membership change, one server at a time (thesis 4.1)', function () {
  simIt('a new server joins as a learner from a snapshot, is promoted once caught up, and a partitioned leader is removed', (seed) => {
    const c = new Cluster({ n: 3, seed, snapshotEvery: 10 });
    for (let i = 0; i < 25; i++) c.one(`a${i}`, 3, true);
    c.addSpareNode('n4');
    let leader = c.checkOneLeader();
    if (!c.nodes[leader].proposeConfChange('add-learner', 'n4')) c.fail('leader refused add-learner');
    // The learner receives a snapshot (the log is compacted) and is then promoted by the leader.
    runUntil(c, 'n4 is a voter on every server', 10_000, () => isVoterEverywhere(c, 'n4', [0, 1, 2, 3]));
    c.one('after-join', 4, true);

    // Cut the leader off. The other three of four voters are a quorum and go on.
    const old = leader;
    c.disconnect(old);
    c.one('without-old-leader', 3, true);
    leader = c.checkOneLeader();
    const oldId = c.nodes[old].id;
    // Remove the cut-off server while it cannot hear about it.
    runUntil(c, 'the new leader accepts the removal', 5_000, () => c.nodes[leader].proposeConfChange('remove', oldId));
    const rest = [0, 1, 2, 3].filter((i) => i !== old);
    runUntil(c, `${oldId} is removed on the others`, 5_000, () => rest.every((i) => c.nodes[i].raw?.raft.conf.every((m) => m.id !== oldId) === true));
    c.one('after-remove', 3, true);

    // The removed server comes back believing it is a voter; it must not disrupt the cluster.
    const term = c.nodes[leader].term;
    c.connect(old);
    c.runFor(3 * ELECTION_TIMEOUT);
    c.one('after-return', 3, true);
    if (c.nodes[leader].term !== term || !c.isLeader(leader)) c.fail(`the removed server disrupted the leader (term ${term} -> ${c.nodes[leader].term})`);
  });

  simIt('a configuration change proposed during a minority partition never commits there, and the majority side moves on', (seed) => {
    const c = new Cluster({ n: 5, seed });
    c.one('x', 5, true);
    c.addSpareNode('n6');
    const leader = c.checkOneLeader();
    // The leader keeps one follower: a minority of two.
    const minority = [leader, (leader + 1) % 5];
    const majority = [0, 1, 2, 3, 4].filter((i) => !minority.includes(i));
    c.net.partition([minority.map((i) => c.nodes[i].id), [...majority.map((i) => c.nodes[i].id), 'n6']]);
    if (!c.nodes[leader].proposeConfChange('add-learner', 'n6')) c.fail('leader refused add-learner');
    c.runFor(2 * ELECTION_TIMEOUT);
    if (majority.some((i) => c.nodes[i].raw?.raft.conf.some((m) => m.id === 'n6'))) c.fail('a change from the minority reached the majority');
    c.one('majority', 3, true);
    c.net.heal();
    c.one('healed', 5, true);
    const l2 = c.checkOneLeader();
    runUntil(c, 'the new leader accepts the change', 5_000, () => c.nodes[l2].proposeConfChange('add-learner', 'n6') || c.nodes[l2].raw?.raft.conf.some((m) => m.id === 'n6') === true);
    runUntil(c, 'n6 is a voter', 10_000, () => isVoterEverywhere(c, 'n6', [0, 1, 2, 3, 4, 5]));
    c.one('six', 6, true);
    // n6 joined with no configuration and learned it from the log (no snapshot): it must
    // know all six voters, so alone it cannot elect itself.
    const n6 = c.node('n6');
    if (n6.raw?.raft.conf.length !== 6) c.fail(`n6 believes the configuration is ${JSON.stringify(n6.raw?.raft.conf)}`);
    c.disconnect(5);
    c.runFor(5 * ELECTION_TIMEOUT);
    if (n6.isLeader()) c.fail('an isolated n6 elected itself');
    c.connect(5);
    c.one('six-again', 6, true);
  });
});

describe('leadership transfer (thesis 3.10)', function () {
  simIt('the leader hands over to a chosen follower, which wins without a pre-vote, and service continues', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('1', 3, true);
    const leader = c.checkOneLeader();
    const target = (leader + 1) % 3;
    if (!c.nodes[leader].transferLeader(c.nodes[target].id)) c.fail('transfer refused');
    runUntil(c, 'the target leads', ELECTION_TIMEOUT, () => c.isLeader(target));
    c.one('2', 3, true);
  });

  simIt('a transfer to a lagging follower first catches it up, and proposals wait meanwhile', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('1', 3, true);
    const leader = c.checkOneLeader();
    const target = (leader + 2) % 3;
    c.disconnect(target);
    for (let i = 0; i < 20; i++) c.one(`lag${i}`, 2, true);
    c.connect(target);
    if (!c.nodes[leader].transferLeader(c.nodes[target].id)) c.fail('transfer refused');
    if (c.start(leader, 'during').isLeader) c.fail('a leader accepted a proposal while transferring');
    runUntil(c, 'the lagging target leads', 2 * ELECTION_TIMEOUT, () => c.isLeader(target));
    c.one('after', 3, true);
  });
});

describe('pre-vote and check-quorum (thesis 9.6, 6.2)', function () {
  simIt('pre-vote stops a rejoining partitioned node from disrupting a stable leader', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('1', 3, true);
    const leader = c.checkOneLeader();
    const term = c.nodes[leader].term;
    const f = (leader + 1) % 3;
    c.disconnect(f);
    c.runFor(10 * ELECTION_TIMEOUT);
    if (c.nodes[f].term !== term) c.fail(`a partitioned node raised its term to ${c.nodes[f].term} despite pre-vote`);
    c.connect(f);
    c.runFor(3 * ELECTION_TIMEOUT);
    if (!c.isLeader(leader) || c.nodes[leader].term !== term) c.fail('the rejoining node disrupted the leader');
    c.one('2', 3, true);
  });

  simIt('without pre-vote the same rejoin does force a new election (the control case)', (seed) => {
    const c = new Cluster({ n: 3, seed, preVote: false });
    c.one('1', 3, true);
    const leader = c.checkOneLeader();
    const term = c.nodes[leader].term;
    const f = (leader + 1) % 3;
    c.disconnect(f);
    c.runFor(10 * ELECTION_TIMEOUT);
    if (c.nodes[f].term <= term) c.fail('expected the partitioned node to raise its term');
    c.connect(f);
    c.runFor(3 * ELECTION_TIMEOUT);
    if (c.nodes[c.checkOneLeader()].term === term) c.fail('expected a new term after the rejoin');
    c.one('2', 3, true);
  });

  simIt('check-quorum: a leader cut off from its followers steps down within two election timeouts', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('1', 3, true);
    const leader = c.checkOneLeader();
    const others = [0, 1, 2].filter((i) => i !== leader).map((i) => c.nodes[i].id);
    c.net.partition([[c.nodes[leader].id], others]);
    c.runFor(2 * ELECTION_TIMEOUT);
    if (c.isLeader(leader)) c.fail('an isolated leader still believes it leads');
  });
});
