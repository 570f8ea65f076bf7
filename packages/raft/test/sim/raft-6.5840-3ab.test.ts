import { strict as assert } from 'node:assert';
import { Cluster, ELECTION_TIMEOUT, randstring } from './cluster.js';
import { simIt } from './harness.js';

/*
 * The MIT 6.5840 Raft suite, parts 3A (election) and 3B (log), same names and pass
 * criteria, run in the deterministic simulation. One deviation: a new leader appends a
 * no-op of its own term (section 8), so commands do not start at index 1; tests that
 * check exact indexes check consecutive indexes instead.
 */
describe('6.5840 3A: leader election (section 5.2)', function () {
  simIt('TestInitialElection3A: a leader is elected and the term stays put while nothing fails', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.checkOneLeader();
    c.runFor(50);
    const term1 = c.checkTerms();
    if (term1 < 1) c.fail(`term is ${term1}, but should be at least 1`);
    c.runFor(2 * ELECTION_TIMEOUT);
    const term2 = c.checkTerms();
    if (term1 !== term2) c.fail('term changed even though there were no failures');
    c.checkOneLeader();
  });

  simIt('TestReElection3A: a new leader is elected after a network failure and none without a quorum', (seed) => {
    const c = new Cluster({ n: 3, seed });
    const leader1 = c.checkOneLeader();
    c.disconnect(leader1);
    c.checkOneLeader();
    c.connect(leader1);
    const leader2 = c.checkOneLeader();
    c.disconnect(leader2);
    c.disconnect((leader2 + 1) % 3);
    c.runFor(2 * ELECTION_TIMEOUT);
    c.checkNoLeader();
    c.connect((leader2 + 1) % 3);
    c.checkOneLeader();
    c.connect(leader2);
    c.checkOneLeader();
  });

  simIt('TestManyElections3A: seven servers keep electing one leader while three at a time are cut off', (seed) => {
    const c = new Cluster({ n: 7, seed });
    c.checkOneLeader();
    for (let iters = 0; iters < 10; iters++) {
      const i1 = c.rng.int(7);
      const i2 = c.rng.int(7);
      const i3 = c.rng.int(7);
      c.disconnect(i1);
      c.disconnect(i2);
      c.disconnect(i3);
      c.checkOneLeader();
      c.connect(i1);
      c.connect(i2);
      c.connect(i3);
    }
    c.checkOneLeader();
  });
});

describe('6.5840 3B: log replication (section 5.3)', function () {
  simIt('TestBasicAgree3B: each command is committed at the next index on every server', (seed) => {
    const c = new Cluster({ n: 3, seed });
    let prev = -1;
    for (let k = 1; k <= 3; k++) {
      const xindex = c.one(String(k * 100), 3, false);
      if (prev !== -1 && xindex !== prev + 1) c.fail(`got index ${xindex} but expected ${prev + 1}`);
      prev = xindex;
    }
  });

  simIt('TestRPCBytes3B: each command is sent to each peer about once', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('99', 3, false);
    const bytes0 = c.bytesTotal();
    let sent = 0;
    for (let index = 2; index < 10; index++) {
      const cmd = randstring(c.rng, 5000);
      c.one(cmd, 3, false);
      sent += cmd.length;
    }
    const got = c.bytesTotal() - bytes0;
    const expected = 3 * sent;
    if (got > expected + 50000) c.fail(`too many RPC bytes; got ${got}, expected ${expected}`);
  });

  simIt('TestFollowerFailure3B: progress continues with one follower down, and stops without a quorum', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('101', 3, false);
    const leader1 = c.checkOneLeader();
    c.disconnect((leader1 + 1) % 3);
    c.one('102', 2, false);
    c.runFor(ELECTION_TIMEOUT);
    c.one('103', 2, false);
    const leader2 = c.checkOneLeader();
    c.disconnect((leader2 + 1) % 3);
    c.disconnect((leader2 + 2) % 3);
    const r = c.start(leader2, '104');
    if (!r.isLeader) c.fail('leader rejected Start()');
    c.runFor(2 * ELECTION_TIMEOUT);
    if (c.nCommitted(r.index).count > 0) c.fail(`${c.nCommitted(r.index).count} committed but no majority`);
  });

  simIt('TestLeaderFailure3B: a disconnected leader cannot commit and a new one takes over', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('101', 3, false);
    const leader1 = c.checkOneLeader();
    c.disconnect(leader1);
    c.one('102', 2, false);
    c.runFor(ELECTION_TIMEOUT);
    c.one('103', 2, false);
    const leader2 = c.checkOneLeader();
    c.disconnect(leader2);
    const indexes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = c.start(i, '104');
      if (r.isLeader) indexes.push(r.index);
    }
    c.runFor(2 * ELECTION_TIMEOUT);
    for (const index of indexes) {
      if (c.nCommitted(index).cmd === '104') c.fail(`${c.nCommitted(index).count} committed but no majority`);
    }
  });

  simIt('TestFailAgree3B: a follower that was disconnected catches up after reconnecting', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('101', 3, false);
    const leader = c.checkOneLeader();
    c.disconnect((leader + 1) % 3);
    c.one('102', 2, false);
    c.one('103', 2, false);
    c.runFor(ELECTION_TIMEOUT);
    c.one('104', 2, false);
    c.one('105', 2, false);
    c.connect((leader + 1) % 3);
    c.one('106', 3, true);
    c.runFor(ELECTION_TIMEOUT);
    c.one('107', 3, true);
  });

  simIt('TestFailNoAgree3B: no agreement when too many followers are disconnected', (seed) => {
    const c = new Cluster({ n: 5, seed });
    const i10 = c.one('10', 5, false);
    const leader = c.checkOneLeader();
    c.disconnect((leader + 1) % 5);
    c.disconnect((leader + 2) % 5);
    c.disconnect((leader + 3) % 5);
    const r = c.start(leader, '20');
    if (!r.isLeader) c.fail('leader rejected Start()');
    if (r.index !== i10 + 1) c.fail(`expected index ${i10 + 1}, got ${r.index}`);
    c.runFor(2 * ELECTION_TIMEOUT);
    if (c.nCommitted(r.index).count > 0) c.fail(`${c.nCommitted(r.index).count} committed but no majority`);
    c.connect((leader + 1) % 5);
    c.connect((leader + 2) % 5);
    c.connect((leader + 3) % 5);
    const leader2 = c.checkOneLeader();
    const r2 = c.start(leader2, '30');
    if (!r2.isLeader) c.fail('leader2 rejected Start()');
    // 6.5840 allows index 2 or 3; with the new leader's no-op it is at most 2 past the old one.
    if (r2.index < i10 + 1 || r2.index > i10 + 3) c.fail(`unexpected index ${r2.index}`);
    c.one('1000', 5, true);
  });

  simIt('TestConcurrentStarts3B: five commands started at once all commit in one term', (seed) => {
    const c = new Cluster({ n: 3, seed });
    let success = false;
    for (let tries = 0; tries < 5 && !success; tries++) {
      if (tries > 0) c.runFor(3000);
      const leader = c.checkOneLeader();
      const first = c.start(leader, '1');
      if (!first.isLeader) continue;
      const term = first.term;
      const indexes: number[] = [];
      let failed = false;
      for (let i = 0; i < 5; i++) {
        const r = c.start(leader, String(100 + i));
        if (r.term !== term || !r.isLeader) failed = true;
        else indexes.push(r.index);
      }
      if (failed) continue;
      const cmds: string[] = [];
      for (const index of indexes) {
        const cmd = c.wait(index, 3, term);
        if (cmd === -1) {
          failed = true;
          break;
        }
        cmds.push(cmd);
      }
      if (failed) continue;
      for (let i = 0; i < 5; i++) assert.ok(cmds.includes(String(100 + i)), `cmd ${100 + i} missing in ${cmds}`);
      success = true;
    }
    if (!success) c.fail('term changed too often');
  });

  simIt('TestRejoin3B: a partitioned leader with uncommitted entries rejoins and its entries are discarded', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('101', 3, true);
    const leader1 = c.checkOneLeader();
    c.disconnect(leader1);
    c.start(leader1, '102');
    c.start(leader1, '103');
    c.start(leader1, '104');
    c.one('103', 2, true);
    const leader2 = c.checkOneLeader();
    c.disconnect(leader2);
    c.connect(leader1);
    c.one('104', 2, true);
    c.connect(leader2);
    c.one('105', 3, true);
  });

  simIt('TestBackup3B: a leader backs up quickly over incorrect follower logs (fast back-off, section 5.3)', (seed) => {
    const c = new Cluster({ n: 5, seed });
    const r = (): string => String(c.rng.int(1 << 30));
    c.one(r(), 5, true);
    const leader1 = c.checkOneLeader();
    c.disconnect((leader1 + 2) % 5);
    c.disconnect((leader1 + 3) % 5);
    c.disconnect((leader1 + 4) % 5);
    for (let i = 0; i < 50; i++) c.start(leader1, r());
    c.runFor(ELECTION_TIMEOUT / 2);
    c.disconnect((leader1 + 0) % 5);
    c.disconnect((leader1 + 1) % 5);
    c.connect((leader1 + 2) % 5);
    c.connect((leader1 + 3) % 5);
    c.connect((leader1 + 4) % 5);
    for (let i = 0; i < 50; i++) c.one(r(), 3, true);
    const leader2 = c.checkOneLeader();
    let other = (leader1 + 2) % 5;
    if (leader2 === other) other = (leader2 + 1) % 5;
    c.disconnect(other);
    for (let i = 0; i < 50; i++) c.start(leader2, r());
    c.runFor(ELECTION_TIMEOUT / 2);
    for (let i = 0; i < 5; i++) c.disconnect(i);
    c.connect((leader1 + 0) % 5);
    c.connect((leader1 + 1) % 5);
    c.connect(other);
    for (let i = 0; i < 50; i++) c.one(r(), 3, true);
    for (let i = 0; i < 5; i++) c.connect(i);
    c.one(r(), 5, true);
  });

  simIt('TestCount3B: elections and agreement use a bounded number of RPCs, and idleness few', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.checkOneLeader();
    let total1 = c.rpcTotal();
    if (total1 > 30 || total1 < 1) c.fail(`too many or few RPCs (${total1}) to elect initial leader`);
    let total2 = 0;
    let success = false;
    outer: for (let tries = 0; tries < 5; tries++) {
      if (tries > 0) c.runFor(3000);
      const leader = c.checkOneLeader();
      total1 = c.rpcTotal();
      const iters = 10;
      const s = c.start(leader, '1');
      if (!s.isLeader) continue;
      const cmds: string[] = [];
      for (let i = 1; i < iters + 2; i++) {
        const x = String(c.rng.int(1 << 30));
        cmds.push(x);
        const r = c.start(leader, x);
        if (r.term !== s.term || !r.isLeader) continue outer;
        if (s.index + i !== r.index) c.fail('Start() failed');
      }
      for (let i = 1; i < iters + 1; i++) {
        const cmd = c.wait(s.index + i, 3, s.term);
        if (cmd === -1) continue outer;
        if (cmd !== cmds[i - 1]) c.fail(`wrong value ${cmd} committed for index ${s.index + i}; expected ${cmds[i - 1]}`);
      }
      let failed = false;
      for (const node of c.nodes) if (node.term !== s.term) failed = true;
      if (failed) continue;
      total2 = c.rpcTotal();
      if (total2 - total1 > (iters + 1 + 3) * 3) c.fail(`too many RPCs (${total2 - total1}) for ${iters} entries`);
      success = true;
      break;
    }
    if (!success) c.fail('term changed too often');
    c.runFor(ELECTION_TIMEOUT);
    const total3 = c.rpcTotal();
    if (total3 - total2 > 3 * 20) c.fail(`too many RPCs (${total3 - total2}) for 1 second of idleness`);
  });
});
