import { strict as assert } from 'node:assert';
import { MessageType, RaftError, RawNode, type Entry, type Message } from '../../src/index.js';
import { message } from '../../src/core/types.js';

/*
 * Targeted tests of the pure core, in the style of etcd's raft_test.go: build nodes with
 * given logs, step exact messages, look at what comes out.
 */
const conf3 = ['n1', 'n2', 'n3'].map((id) => ({ id, address: id, voter: true }));

function ents(...terms: number[]): Entry[] {
  return terms.map((term, i) => ({ term, index: i + 1, type: 0, data: new Uint8Array([i + 1]) }));
}

function node(id: string, term: number, log: Entry[], commit = 0, conf = conf3): RawNode {
  return new RawNode(
    { id, electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    { hardState: { term, vote: '', commit }, snapshot: { index: 0, term: 0, conf }, offset: { index: 0, term: 0 }, entries: log, applied: commit },
  );
}

/** Runs one Ready/advance round with instant "persistence"; returns the messages. */
function drain(n: RawNode): Message[] {
  const out: Message[] = [];
  while (n.hasReady()) {
    const rd = n.ready();
    out.push(...rd.messages);
    n.advance(rd);
  }
  return out;
}

/** Makes n1 leader of the next term with n2's vote. */
function elect(n: RawNode): void {
  n.step(message({ type: MessageType.TimeoutNow, from: 'n2', to: n.raft.id, term: n.raft.term }));
  const votes = drain(n).filter((m) => m.type === MessageType.Vote);
  assert.ok(votes.length > 0, 'no vote requests');
  n.step(message({ type: MessageType.VoteResponse, from: 'n2', to: n.raft.id, term: n.raft.term }));
  assert.equal(n.raft.role, 'leader');
  drain(n);
}

describe('core: commitment (section 5.4.2)', function () {
  it('a leader does not commit an old-term entry by counting replicas, only with one of its own term (Figure 8)', () => {
    const n1 = node('n1', 2, ents(1, 2), 1);
    elect(n1); // term 3, no-op at index 3
    assert.equal(n1.raft.term, 3);
    // n2 now holds index 2 (term 2): a majority, but of an entry from term 2.
    n1.step(message({ type: MessageType.AppendResponse, from: 'n2', to: 'n1', term: 3, index: 2 }));
    drain(n1);
    assert.equal(n1.raft.log.committed, 1, 'committed a previous-term entry by counting replicas');
    n1.step(message({ type: MessageType.AppendResponse, from: 'n2', to: 'n1', term: 3, index: 3 }));
    drain(n1);
    assert.equal(n1.raft.log.committed, 3);
  });

  it('a leader counts itself only once its entries are stable (advance), so it may send before its fsync', () => {
    const n1 = node('n1', 1, ents(1), 1);
    elect(n1);
    n1.propose(new Uint8Array([9]));
    const rd = n1.ready();
    assert.ok(rd.entries.length > 0);
    // n2's acknowledgement plus n1's own copy would be a quorum, but n1's copy is not on
    // its disk yet, so it must not count.
    n1.step(message({ type: MessageType.AppendResponse, from: 'n2', to: 'n1', term: n1.raft.term, index: n1.raft.log.lastIndex() }));
    assert.ok(n1.raft.log.committed < n1.raft.log.lastIndex(), 'counted its own unsynced entry');
    n1.advance(rd);
    drain(n1);
    assert.equal(n1.raft.log.committed, n1.raft.log.lastIndex());
  });

  it('a single-node cluster commits its own proposals after they are stable', () => {
    const solo = node('n1', 0, [], 0, [{ id: 'n1', address: 'n1', voter: true }]);
    for (let i = 0; i < 30 && solo.raft.role !== 'leader'; i++) {
      solo.tick();
      drain(solo);
    }
    assert.equal(solo.raft.role, 'leader');
    const at = solo.propose(new Uint8Array([1]));
    const rd = solo.ready();
    assert.equal(rd.committedEntries.some((e) => e.index === at.index), false, 'committed before stable');
    solo.advance(rd);
    assert.ok(solo.raft.log.committed >= at.index);
  });
});

describe('core: log replication (section 5.3)', function () {
  it('a follower rejects an append whose previous entry does not match and hints the last index of a term <= the leader prevLogTerm', () => {
    const f = node('n2', 3, ents(1, 1, 2, 2));
    f.step(message({ type: MessageType.Append, from: 'n1', to: 'n2', term: 3, index: 5, logTerm: 3, entries: [] }));
    const [resp] = drain(f).filter((m) => m.type === MessageType.AppendResponse);
    assert.equal(resp.reject, true);
    assert.equal(resp.rejectHint, 4);
    assert.equal(resp.logTerm, 2);
    // With prevLogTerm 1 the hint skips the whole term-2 run.
    f.step(message({ type: MessageType.Append, from: 'n1', to: 'n2', term: 3, index: 4, logTerm: 1, entries: [] }));
    const [r2] = drain(f).filter((m) => m.type === MessageType.AppendResponse);
    assert.equal(r2.rejectHint, 2);
  });

  it('a follower truncates a conflicting suffix and never an entry at or below its commit index', () => {
    const f = node('n2', 3, ents(1, 1, 2, 2), 2);
    const e3: Entry = { term: 3, index: 3, type: 0, data: new Uint8Array([33]) };
    f.step(message({ type: MessageType.Append, from: 'n1', to: 'n2', term: 3, index: 2, logTerm: 1, entries: [e3], commit: 3 }));
    drain(f);
    assert.equal(f.raft.log.lastIndex(), 3);
    assert.equal(f.raft.log.term(3), 3);
    assert.equal(f.raft.log.committed, 3);
  });

  it('a follower does not commit past what the leader showed it matches', () => {
    const f = node('n2', 1, ents(1, 1, 1, 1, 1));
    f.step(message({ type: MessageType.Append, from: 'n1', to: 'n2', term: 1, index: 2, logTerm: 1, entries: [], commit: 5 }));
    drain(f);
    assert.equal(f.raft.log.committed, 2);
  });
});

describe('core: elections (section 5.2, thesis 9.6 and 6.2)', function () {
  it('a pre-candidate asks for votes at term+1 without changing its own term or vote', () => {
    const n = node('n1', 5, ents(1));
    let msgs: Message[] = [];
    for (let i = 0; i < 30 && msgs.length === 0; i++) {
      n.tick();
      msgs = drain(n);
    }
    assert.equal(n.raft.role, 'pre-candidate');
    assert.equal(n.raft.term, 5);
    assert.equal(n.raft.vote, '');
    assert.ok(msgs.every((m) => m.type === MessageType.PreVote && m.term === 6));
  });

  it('a follower that heard from its leader within the election timeout ignores a vote request of a higher term', () => {
    const f = node('n2', 2, ents(1));
    f.step(message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', term: 2 }));
    drain(f);
    f.step(message({ type: MessageType.Vote, from: 'n3', to: 'n2', term: 3, index: 5, logTerm: 2 }));
    assert.equal(drain(f).filter((m) => m.type === MessageType.VoteResponse).length, 0);
    assert.equal(f.raft.term, 2);
    // ...unless the request comes from a leadership transfer.
    f.step(message({ type: MessageType.Vote, from: 'n3', to: 'n2', term: 3, index: 5, logTerm: 2, force: true }));
    const [v] = drain(f).filter((m) => m.type === MessageType.VoteResponse);
    assert.equal(v.reject, false);
    assert.equal(f.raft.term, 3);
  });

  it('a voter refuses a candidate whose log is less up to date (section 5.4.1)', () => {
    const f = node('n2', 2, ents(1, 2));
    f.step(message({ type: MessageType.Vote, from: 'n3', to: 'n2', term: 3, index: 5, logTerm: 1 }));
    const [v] = drain(f).filter((m) => m.type === MessageType.VoteResponse);
    assert.equal(v.reject, true);
  });

  it('a node grants at most one vote per term', () => {
    const f = node('n2', 2, ents(1));
    f.step(message({ type: MessageType.Vote, from: 'n1', to: 'n2', term: 3, index: 1, logTerm: 1 }));
    f.step(message({ type: MessageType.Vote, from: 'n3', to: 'n2', term: 3, index: 1, logTerm: 1 }));
    const votes = drain(f).filter((m) => m.type === MessageType.VoteResponse);
    assert.deepEqual(votes.map((v) => [v.from, v.to, v.reject]), [['n2', 'n1', false], ['n2', 'n3', true]]);
  });

  it('a follower that lost its stream to its leader campaigns right after the shortest timeout, never earlier, and still refuses votes until then', () => {
    // random() near 1: the ordinary timeout is the longest one, 19 ticks.
    const late = (): RawNode =>
      new RawNode(
        { id: 'n2', electionTicks: 10, heartbeatTicks: 1, random: () => 0.99 },
        { hardState: { term: 2, vote: '', commit: 1 }, snapshot: { index: 0, term: 0, conf: conf3 }, offset: { index: 0, term: 0 }, entries: ents(1), applied: 1 },
      );
    const ticksToCampaign = (f: RawNode, lost: string | undefined): number => {
      f.step(message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', term: 2 }));
      drain(f);
      if (lost) f.reportUnreachable(lost);
      for (let t = 1; t <= 40; t++) {
        f.tick();
        if (t === 9) {
          // Stickiness is unchanged: within the election timeout a campaign is still ignored.
          f.step(message({ type: MessageType.PreVote, from: 'n3', to: 'n2', term: 3, index: 5, logTerm: 2 }));
        }
        const out = drain(f);
        if (t === 9) assert.equal(out.filter((m) => m.type === MessageType.PreVoteResponse).length, 0, 'granted a pre-vote within the election timeout');
        if (f.raft.role !== 'follower') return t;
      }
      return Infinity;
    };
    assert.equal(ticksToCampaign(late(), undefined), 19);
    assert.equal(ticksToCampaign(late(), 'n3'), 19, 'a peer other than the leader is not a lost leader');
    const lostLeader = ticksToCampaign(late(), 'n1');
    assert.ok(lostLeader >= 10 && lostLeader <= 12, `campaigned after ${lostLeader} ticks`);
  });

  it('with its leader lost, a pre-candidate whose pre-votes went unanswered asks again within two ticks; otherwise after a whole timeout', () => {
    const preVotesOver = (lost: boolean): number[] => {
      const f = node('n2', 2, ents(1), 1);
      f.step(message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', term: 2 }));
      drain(f);
      if (lost) f.reportUnreachable('n1');
      const rounds: number[] = [];
      for (let t = 1; t <= 30; t++) {
        f.tick();
        // Nobody answers: n1 is dead, n3 still inside its own election timeout ignores us.
        if (drain(f).some((m) => m.type === MessageType.PreVote)) rounds.push(t);
      }
      assert.equal(f.raft.term, 2, 'a pre-vote changed the term');
      return rounds;
    };
    const lost = preVotesOver(true);
    assert.equal(lost[0], 10);
    for (let i = 1; i < lost.length; i++) assert.ok(lost[i]! - lost[i - 1]! <= 2, `asked again after ${lost[i]! - lost[i - 1]!} ticks`);
    const normal = preVotesOver(false);
    assert.deepEqual(normal, [10, 20, 30]);
  });

  it('with its leader lost, a pre-candidate grants pre-votes only to a requester that ranks above it, so two survivors never both become candidates', () => {
    const answer = (lost: boolean, from: string, index: number): boolean | undefined => {
      const f = node('n2', 2, ents(1, 2), 1);
      f.step(message({ type: MessageType.Heartbeat, from: 'n1', to: 'n2', term: 2 }));
      drain(f);
      if (lost) f.reportUnreachable('n1');
      for (let t = 0; t < 30 && f.raft.role !== 'pre-candidate'; t++) {
        f.tick();
        drain(f);
      }
      assert.equal(f.raft.role, 'pre-candidate');
      f.step(message({ type: MessageType.PreVote, from, to: 'n2', term: 3, index, logTerm: 2 }));
      const [r] = drain(f).filter((m) => m.type === MessageType.PreVoteResponse);
      return r && !r.reject;
    };
    assert.equal(answer(true, 'n3', 2), true, 'the same log and a greater id: granted');
    assert.equal(answer(true, 'n0', 3), true, 'a longer log: granted');
    assert.equal(answer(true, 'n0', 2), false, 'the same log and a smaller id: refused');
    assert.equal(answer(false, 'n0', 2), true, 'without a lost leader, pre-candidates grant as before');
  });

  it('check-quorum: a leader that hears from no follower for an election timeout steps down', () => {
    const n1 = node('n1', 1, ents(1), 1);
    elect(n1);
    for (let i = 0; i < 25; i++) {
      n1.tick();
      drain(n1);
    }
    assert.equal(n1.raft.role, 'follower');
  });
});

describe('core: proposals and ReadIndex (thesis 6.4)', function () {
  it('a follower refuses proposals with a not-leader error', () => {
    const f = node('n2', 1, []);
    assert.throws(() => f.propose(new Uint8Array([1])), (e: unknown) => e instanceof RaftError && e.code === 'not-leader');
  });

  it('a read is confirmed only after a quorum acknowledges a heartbeat carrying its context', () => {
    const n1 = node('n1', 1, ents(1), 1);
    elect(n1);
    n1.step(message({ type: MessageType.AppendResponse, from: 'n2', to: 'n1', term: 2, index: 2 }));
    drain(n1);
    assert.equal(n1.raft.log.committed, 2);
    assert.ok(n1.readIndex(7));
    const rd = n1.ready();
    assert.equal(rd.readStates.length, 0);
    const hb = rd.messages.filter((m) => m.type === MessageType.Heartbeat && m.context === 7);
    assert.equal(hb.length, 2);
    n1.advance(rd);
    n1.step(message({ type: MessageType.HeartbeatResponse, from: 'n3', to: 'n1', term: 2, context: 7 }));
    const rd2 = n1.ready();
    assert.deepEqual(rd2.readStates, [{ index: 2, context: 7 }]);
  });

  it('a new leader defers reads until it has committed an entry of its own term', () => {
    const n1 = node('n1', 1, ents(1), 1);
    elect(n1);
    assert.ok(n1.readIndex(1));
    assert.equal(drain(n1).filter((m) => m.context === 1).length, 0);
    n1.step(message({ type: MessageType.AppendResponse, from: 'n2', to: 'n1', term: 2, index: 2 }));
    const msgs = drain(n1);
    assert.equal(msgs.filter((m) => m.type === MessageType.Heartbeat && m.context === 1).length, 2);
  });

  it('a leader that loses leadership drops its pending reads', () => {
    const n1 = node('n1', 1, ents(1), 1);
    elect(n1);
    n1.step(message({ type: MessageType.AppendResponse, from: 'n2', to: 'n1', term: 2, index: 2 }));
    drain(n1);
    n1.readIndex(3);
    drain(n1);
    n1.step(message({ type: MessageType.Append, from: 'n2', to: 'n1', term: 9, index: 2, logTerm: 2, entries: [] }));
    const rd = n1.ready();
    assert.deepEqual(rd.droppedReads, [3]);
  });
});
