import { awaitClients, Cluster, ELECTION_TIMEOUT, OneClient, randstring, type ClusterOptions } from './cluster.js';
import { simIt } from './harness.js';

/*
 * The MIT 6.5840 Raft suite, parts 3C (persistence, section 5.1 and Figure 2 "persistent
 * state") and 3D (snapshots, section 7), in the deterministic simulation. A crash keeps
 * only what the node fsynced.
 */
function rnd(c: Cluster): string {
  return String(c.rng.int(1 << 30));
}

describe('6.5840 3C: persistence', function () {
  simIt('TestPersist13C: a cluster survives every server crashing and restarting', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('11', 3, true);
    for (let i = 0; i < 3; i++) c.start1(i);
    for (let i = 0; i < 3; i++) {
      c.disconnect(i);
      c.connect(i);
    }
    c.one('12', 3, true);
    const leader1 = c.checkOneLeader();
    c.disconnect(leader1);
    c.start1(leader1);
    c.connect(leader1);
    c.one('13', 3, true);
    const leader2 = c.checkOneLeader();
    c.disconnect(leader2);
    const i14 = c.one('14', 2, true);
    c.start1(leader2);
    c.connect(leader2);
    c.wait(i14, 3, -1);
    const i3 = (c.checkOneLeader() + 1) % 3;
    c.disconnect(i3);
    c.one('15', 2, true);
    c.start1(i3);
    c.connect(i3);
    c.one('16', 3, true);
  });

  simIt('TestPersist23C: more persistence, with crashes of a majority', (seed) => {
    const c = new Cluster({ n: 5, seed });
    let index = 1;
    for (let iters = 0; iters < 5; iters++) {
      c.one(String(10 + index++), 5, true);
      const leader1 = c.checkOneLeader();
      c.disconnect((leader1 + 1) % 5);
      c.disconnect((leader1 + 2) % 5);
      c.one(String(10 + index++), 3, true);
      c.disconnect((leader1 + 0) % 5);
      c.disconnect((leader1 + 3) % 5);
      c.disconnect((leader1 + 4) % 5);
      c.start1((leader1 + 1) % 5);
      c.start1((leader1 + 2) % 5);
      c.connect((leader1 + 1) % 5);
      c.connect((leader1 + 2) % 5);
      c.runFor(ELECTION_TIMEOUT);
      c.start1((leader1 + 3) % 5);
      c.connect((leader1 + 3) % 5);
      c.one(String(10 + index++), 3, true);
      c.connect((leader1 + 4) % 5);
      c.connect((leader1 + 0) % 5);
    }
    c.one('1000', 5, true);
  });

  simIt('TestPersist33C: a leader and a follower crash in the middle of agreement', (seed) => {
    const c = new Cluster({ n: 3, seed });
    c.one('101', 3, true);
    const leader = c.checkOneLeader();
    c.disconnect((leader + 2) % 3);
    c.one('102', 2, true);
    c.crash1((leader + 0) % 3);
    c.crash1((leader + 1) % 3);
    c.connect((leader + 2) % 3);
    c.start1((leader + 0) % 3);
    c.connect((leader + 0) % 3);
    c.one('103', 2, true);
    c.start1((leader + 1) % 3);
    c.connect((leader + 1) % 3);
    c.one('104', 3, true);
  });

  simIt('TestFigure83C: only entries of the current term are committed by counting replicas (Figure 8, section 5.4.2)', (seed) => {
    const servers = 5;
    const c = new Cluster({ n: servers, seed });
    c.one(rnd(c), 1, true);
    let nup = servers;
    for (let iters = 0; iters < 1000; iters++) {
      let leader = -1;
      for (let i = 0; i < servers; i++) {
        if (c.nodes[i].alive && c.start(i, rnd(c)).isLeader) leader = i;
      }
      if (c.rng.int(1000) < 100) c.runFor(c.rng.int(ELECTION_TIMEOUT / 2));
      else c.runFor(c.rng.int(13));
      if (leader !== -1) {
        c.crash1(leader);
        nup--;
      }
      if (nup < 3) {
        const s = c.rng.int(servers);
        if (!c.nodes[s].alive) {
          c.start1(s);
          c.connect(s);
          nup++;
        }
      }
    }
    for (let i = 0; i < servers; i++) {
      if (!c.nodes[i].alive) {
        c.start1(i);
        c.connect(i);
      }
    }
    c.one(rnd(c), servers, true);
  });

  simIt('TestUnreliableAgree3C: agreement despite dropped, delayed and duplicated messages', (seed) => {
    const c = new Cluster({ n: 5, seed, reliable: false });
    for (let iters = 1; iters < 50; iters++) {
      const clients: OneClient[] = [];
      for (let j = 0; j < 4; j++) clients.push(new OneClient(c, String(100 * iters + j), 1));
      c.one(String(iters), 1, true);
      awaitClients(c, clients, 20_000);
    }
    c.setUnreliable(false);
    c.one('100', 5, true);
  });

  simIt('TestFigure8Unreliable3C: Figure 8 with an unreliable network and long reordering', (seed) => {
    const servers = 5;
    const c = new Cluster({ n: servers, seed, reliable: false });
    c.one(String(c.rng.int(10000)), 1, true);
    let nup = servers;
    for (let iters = 0; iters < 1000; iters++) {
      if (iters === 200) c.setLongReordering(true);
      let leader = -1;
      for (let i = 0; i < servers; i++) {
        if (c.start(i, String(c.rng.int(10000))).isLeader && c.connected(i)) leader = i;
      }
      if (c.rng.int(1000) < 100) c.runFor(c.rng.int(ELECTION_TIMEOUT / 2));
      else c.runFor(c.rng.int(13));
      if (leader !== -1 && c.rng.int(1000) < ELECTION_TIMEOUT / 2) {
        c.disconnect(leader);
        nup--;
      }
      if (nup < 3) {
        const s = c.rng.int(servers);
        if (!c.connected(s)) {
          c.connect(s);
          nup++;
        }
      }
    }
    for (let i = 0; i < servers; i++) c.connect(i);
    c.one(String(c.rng.int(10000)), servers, true);
  });

  function churn(seed: number, unreliable: boolean): void {
    const servers = 5;
    const c = new Cluster({ n: servers, seed, reliable: !unreliable });
    const committed: string[] = [];
    let stop = false;
    // Three clients, each looping: submit to a random server, wait for the command at its index.
    for (let me = 0; me < 3; me++) {
      let n = 0;
      const loop = (): void => {
        if (stop) return;
        const x = String(c.rng.int(1 << 30));
        const i = c.rng.int(servers);
        const r = c.start(i, x);
        n++;
        if (!r.isLeader) {
          c.clock.schedule(79 + me * 17, loop);
          return;
        }
        let to = 10;
        const poll = (tries: number): void => {
          const { count, cmd } = c.nCommitted(r.index);
          if (count > 0 && cmd === x) {
            committed.push(x);
            c.clock.schedule(79 + me * 17, loop);
          } else if (tries >= 30 || stop) {
            c.clock.schedule(79 + me * 17, loop);
          } else {
            if (to < 100) to *= 2;
            c.clock.schedule(to, () => poll(tries + 1));
          }
        };
        c.clock.schedule(to, () => poll(0));
      };
      c.clock.schedule(me, loop);
      void n;
    }
    for (let iters = 0; iters < 20; iters++) {
      if (c.rng.int(1000) < 200) c.disconnect(c.rng.int(servers));
      if (c.rng.int(1000) < 500) {
        const i = c.rng.int(servers);
        if (!c.nodes[i].alive) c.start1(i);
        c.connect(i);
      }
      if (c.rng.int(1000) < 200) {
        const i = c.rng.int(servers);
        if (c.nodes[i].alive) c.crash1(i);
      }
      c.runFor((ELECTION_TIMEOUT * 7) / 10);
    }
    c.runFor(ELECTION_TIMEOUT);
    c.setUnreliable(false);
    for (let i = 0; i < servers; i++) {
      if (!c.nodes[i].alive) c.start1(i);
      c.connect(i);
    }
    stop = true;
    c.runFor(ELECTION_TIMEOUT);
    const lastIndex = c.one(String(c.rng.int(1 << 30)), servers, true);
    const really = new Set<string>();
    for (let index = 1; index <= lastIndex; index++) {
      // Our leaders' no-ops (section 8) occupy indexes too; they carry no command.
      if (!c.isCommand(index)) continue;
      const v = c.wait(index, servers, -1);
      if (v !== -1) really.add(v);
    }
    for (const v of committed) if (!really.has(v)) c.fail(`didn't find a value ${v} a client saw committed`);
  }

  simIt('TestReliableChurn3C: servers crash, restart and reconnect while clients keep committing', (seed) => churn(seed, false));
  simIt('TestUnreliableChurn3C: the same churn on an unreliable network', (seed) => churn(seed, true));
});

describe('6.5840 3D: log compaction and InstallSnapshot (section 7)', function () {
  const SNAPSHOT_INTERVAL = 10;
  const MAX_LOG_ENTRIES = 50;

  function snapcommon(seed: number, disconnect: boolean, reliable: boolean, crash: boolean): void {
    const iters = 30;
    const servers = 3;
    const opts: ClusterOptions = { n: servers, seed, reliable, snapshotEvery: SNAPSHOT_INTERVAL };
    const c = new Cluster(opts);
    c.one(randstring(c.rng, 8), servers, true);
    let leader1 = c.checkOneLeader();
    for (let i = 0; i < iters; i++) {
      let victim = (leader1 + 1) % servers;
      let sender = leader1;
      if (i % 3 === 1) {
        sender = (leader1 + 1) % servers;
        victim = leader1;
      }
      if (disconnect) {
        c.disconnect(victim);
        c.one(randstring(c.rng, 8), servers - 1, true);
      }
      if (crash) {
        c.crash1(victim);
        c.one(randstring(c.rng, 8), servers - 1, true);
      }
      // Perhaps send enough to get a snapshot.
      const nn = SNAPSHOT_INTERVAL / 2 + c.rng.int(SNAPSHOT_INTERVAL);
      for (let k = 0; k < nn; k++) c.start(sender, randstring(c.rng, 8));
      // Let applier threads catch up with the Start()'s.
      if (!disconnect && !crash) c.one(randstring(c.rng, 8), servers, true);
      else c.one(randstring(c.rng, 8), servers - 1, true);
      if (c.maxLogSize() >= MAX_LOG_ENTRIES) c.fail(`log size too large: ${c.maxLogSize()} entries`);
      if (disconnect) {
        // Reconnect a follower, who may be behind and need to receive a snapshot.
        c.connect(victim);
        c.one(randstring(c.rng, 8), servers, true);
        leader1 = c.checkOneLeader();
      }
      if (crash) {
        c.start1(victim);
        c.connect(victim);
        c.one(randstring(c.rng, 8), servers, true);
        leader1 = c.checkOneLeader();
      }
    }
  }

  simIt('TestSnapshotBasic3D: servers snapshot and compact their logs', (seed) => snapcommon(seed, false, true, false));
  simIt('TestSnapshotInstall3D: a disconnected follower catches up by InstallSnapshot', (seed) => snapcommon(seed, true, true, false));
  simIt('TestSnapshotInstallUnreliable3D: InstallSnapshot over an unreliable network', (seed) => snapcommon(seed, true, false, false));
  simIt('TestSnapshotInstallCrash3D: a crashed follower restarts from its snapshot and catches up', (seed) => snapcommon(seed, false, true, true));
  simIt('TestSnapshotInstallUnCrash3D: crash and InstallSnapshot over an unreliable network', (seed) => snapcommon(seed, false, false, true));

  simIt('TestSnapshotAllCrash3D: every server crashes and restarts from its snapshot, and the log goes on', (seed) => {
    const servers = 3;
    const c = new Cluster({ n: servers, seed, snapshotEvery: SNAPSHOT_INTERVAL });
    c.one(randstring(c.rng, 8), servers, true);
    for (let i = 0; i < 5; i++) {
      const nn = SNAPSHOT_INTERVAL / 2 + c.rng.int(SNAPSHOT_INTERVAL);
      for (let k = 0; k < nn; k++) c.one(randstring(c.rng, 8), servers, true);
      const index1 = c.one(randstring(c.rng, 8), servers, true);
      for (let k = 0; k < servers; k++) c.crash1(k);
      for (let k = 0; k < servers; k++) {
        c.start1(k);
        c.connect(k);
      }
      const index2 = c.one(randstring(c.rng, 8), servers, true);
      if (index2 < index1 + 1) c.fail(`index decreased from ${index1} to ${index2}`);
    }
  });

  simIt('TestSnapshotInit3D: a server restarts from a snapshot with no log after it', (seed) => {
    const servers = 3;
    const c = new Cluster({ n: servers, seed, snapshotEvery: SNAPSHOT_INTERVAL });
    c.one(randstring(c.rng, 8), servers, true);
    for (let i = 0; i < SNAPSHOT_INTERVAL + 1; i++) c.one(randstring(c.rng, 8), servers, true);
    for (let k = 0; k < servers; k++) c.crash1(k);
    for (let k = 0; k < servers; k++) {
      c.start1(k);
      c.connect(k);
    }
    c.one(randstring(c.rng, 8), servers, true);
    for (let k = 0; k < servers; k++) c.crash1(k);
    for (let k = 0; k < servers; k++) {
      c.start1(k);
      c.connect(k);
    }
    c.one(randstring(c.rng, 8), servers, true);
  });
});
