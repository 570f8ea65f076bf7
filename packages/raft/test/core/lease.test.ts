import { strict as assert } from 'node:assert';
import { LeaderLease, leaseDurationMs, MessageType, RawNode, type Entry, type Message } from '../../src/index.js';
import { message } from '../../src/core/types.js';

/* The leader lease (core/lease.ts): its arithmetic and the core's rules for when it may be used. */
const conf3 = ['n1', 'n2', 'n3'].map((id) => ({ id, address: id, voter: true }));

function leaseNode(id: string, term: number, log: Entry[], commit = 0): RawNode {
  return new RawNode(
    { id, electionTicks: 10, heartbeatTicks: 1, random: () => 0, leaseReads: true },
    { hardState: { term, vote: '', commit }, snapshot: { index: 0, term: 0, conf: conf3 }, offset: { index: 0, term: 0 }, entries: log, applied: commit },
  );
}

function drain(n: RawNode): Message[] {
  const out: Message[] = [];
  while (n.hasReady()) {
    const rd = n.ready();
    out.push(...rd.messages);
    n.advance(rd);
  }
  return out;
}

const one: Entry[] = [{ term: 1, index: 1, type: 0, data: new Uint8Array([1]) }];

describe('core: leader lease (thesis 6.4.1)', () => {
  it('lasts (electionTicks - 2) ticks shortened by the drift bound: 727 ms for 10 ticks of 100 ms and 10% drift', () => {
    assert.equal(Math.round(leaseDurationMs({ electionTicks: 10, tickMs: 100, maxDrift: 0.1 })), 727);
    assert.equal(leaseDurationMs({ electionTicks: 2, tickMs: 100, maxDrift: 0 }), 0);
  });

  it('runs from when the confirmed round was sent, belongs to one term, and ends on revoke', () => {
    const l = new LeaderLease(700);
    assert.equal(l.valid(0, 2), false);
    l.confirm(1000, 2);
    assert.equal(l.valid(1699, 2), true);
    assert.equal(l.valid(1700, 2), false);
    assert.equal(l.valid(1500, 3), false, 'another term');
    l.confirm(900, 2);
    assert.equal(l.remaining(1600, 2), 100, 'an older round never shortens or lengthens it');
    l.revoke();
    assert.equal(l.valid(1100, 2), false);
  });

  it('is usable only by a leader that committed an entry of its term and started no transfer', () => {
    const n1 = leaseNode('n1', 1, one, 1);
    assert.equal(n1.raft.leaseReadIndex(), undefined, 'a follower');
    n1.step(message({ type: MessageType.TimeoutNow, from: 'n2', to: 'n1', term: 1 }));
    drain(n1);
    n1.step(message({ type: MessageType.VoteResponse, from: 'n2', to: 'n1', term: 2 }));
    drain(n1);
    assert.equal(n1.raft.role, 'leader');
    assert.equal(n1.raft.leaseReadIndex(), undefined, 'nothing of term 2 committed yet');
    n1.step(message({ type: MessageType.AppendResponse, from: 'n2', to: 'n1', term: 2, index: 2 }));
    drain(n1);
    assert.equal(n1.raft.leaseReadIndex(), 2);
    assert.ok(n1.transferLeader('n3'));
    assert.equal(n1.raft.leaseReadIndex(), undefined, 'a transfer lets a forced vote past stickiness');
  });

  it('a restarted node ignores campaigns for an election timeout, as it would after hearing a leader', () => {
    const n2 = leaseNode('n2', 1, one, 1);
    const vote = (): Message | undefined => {
      n2.step(message({ type: MessageType.Vote, from: 'n3', to: 'n2', term: 2, index: 1, logTerm: 1 }));
      return drain(n2).find((m) => m.type === MessageType.VoteResponse);
    };
    assert.equal(vote(), undefined, 'just started: no answer');
    for (let i = 0; i < 10; i++) n2.tick();
    const answer = vote();
    assert.ok(answer && !answer.reject, 'after an election timeout it votes');
  });
});
