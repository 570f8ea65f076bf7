import { VirtualClock } from './clock.js';
import { SimFailure } from './failure.js';
import { Invariants } from './invariants.js';
import { SimNetwork } from './network.js';
import { SimNode, type SimNodeOptions, type SimStateMachine } from './node.js';
import { Prng } from '@dfs/testkit';
import { SimStorage } from './storage.js';

/*
 * The test kit, shaped like 6.5840's raft/config.go (and hashicorp's MakeCluster):
 * servers are numbered 0..n-1 and named n1..nN; one(), checkOneLeader(),
 * nCommitted(), crash1()/start1(), connect()/disconnect() mean what they mean there.
 * All time is virtual: one second of it costs a few milliseconds of CPU.
 */
const enc = new TextEncoder();
const dec = new TextDecoder();

/** 6.5840's election timeout budget. */
export const ELECTION_TIMEOUT = 1000;

/** The 6.5840 "service": remembers which command was applied at each index. */
export class LogStateMachine implements SimStateMachine {
  values = new Map<number, string>();
  apply(index: number, data: Uint8Array): unknown {
    this.values.set(index, dec.decode(data));
    return index;
  }
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify([...this.values]));
  }
  restore(data: Uint8Array): void {
    this.values = new Map(JSON.parse(dec.decode(data)) as Array<[number, string]>);
  }
}

export interface ClusterOptions extends Partial<SimNodeOptions> {
  readonly n: number;
  readonly seed: number;
  readonly reliable?: boolean;
  readonly makeSm?: () => SimStateMachine;
}

export class Cluster {
  readonly clock = new VirtualClock();
  readonly rng: Prng;
  readonly net: SimNetwork;
  readonly inv = new Invariants();
  readonly nodes: SimNode[] = [];
  private readonly byId = new Map<string, SimNode>();

  constructor(readonly opts: ClusterOptions) {
    this.rng = new Prng(opts.seed);
    const netRng = this.rng.fork();
    this.net = new SimNetwork(
      this.clock,
      netRng,
      (env) => this.byId.get(env.msg.to)?.receive(env) ?? false,
      (from, to, ok) => this.byId.get(from)?.snapshotDone(to, ok),
      (from, to) => this.byId.get(from)?.unreachable(to),
    );
    this.net.reliable = opts.reliable ?? true;
    const nodeOpts: SimNodeOptions = {
      tickMs: 20,
      electionTicks: 15,
      heartbeatTicks: 5,
      preVote: true,
      checkQuorum: true,
      snapshotEvery: 0,
      maxMsgBytes: 64 * 1024,
      ...opts,
    };
    const ids = Array.from({ length: opts.n }, (_, i) => `n${i + 1}`);
    const conf = ids.map((id) => ({ id, address: `sim://${id}`, voter: true }));
    for (const id of ids) {
      const storage = new SimStorage({ index: 0, term: 0, conf });
      const node = new SimNode(id, storage, opts.makeSm ?? (() => new LogStateMachine()), nodeOpts, this.clock, this.net, this.inv, this.rng.fork());
      this.nodes.push(node);
      this.byId.set(id, node);
    }
    this.clock.afterEvent = () => this.inv.afterEvent(this.nodes);
    for (const node of this.nodes) node.start();
  }

  /** Adds a node that is not (yet) in the configuration: it waits to be contacted. */
  addSpareNode(id: string): SimNode {
    const storage = new SimStorage({ index: 0, term: 0, conf: [] });
    const nodeOpts = { tickMs: 20, electionTicks: 15, heartbeatTicks: 5, preVote: true, checkQuorum: true, snapshotEvery: 0, maxMsgBytes: 64 * 1024, ...this.opts };
    const node = new SimNode(id, storage, this.opts.makeSm ?? (() => new LogStateMachine()), nodeOpts, this.clock, this.net, this.inv, this.rng.fork());
    this.nodes.push(node);
    this.byId.set(id, node);
    node.start();
    return node;
  }

  /** Number of servers, including spares added later. */
  get n(): number {
    return this.nodes.length;
  }

  indexOf(id: string): number {
    return this.nodes.findIndex((n) => n.id === id);
  }

  node(id: string): SimNode {
    const n = this.byId.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  fail(what: string): never {
    throw new SimFailure(`${what} (at virtual time ${this.clock.now} ms)\n${this.describe()}`);
  }

  /** One line per node: what a failure report needs to start debugging. */
  describe(): string {
    return this.nodes
      .map((n) => {
        const r = n.raw?.raft;
        if (!r) return `      ${n.id}: down`;
        const prs = r.role === 'leader' ? ' ' + r.conf.map((m) => `${m.id}=${JSON.stringify(r.progressOf(m.id))}`).join(' ') : '';
        return `      ${n.id}: ${r.role} term=${r.term} lead=${r.lead} commit=${r.log.committed} applied=${n.appliedIndex} last=${r.log.lastIndex()} snap=${r.log.snapshot.index} net=${this.net.isConnected(n.id) ? 'up' : 'cut'}${prs}`;
      })
      .join('\n');
  }

  runFor(ms: number): void {
    this.clock.runFor(ms);
  }

  connected(i: number): boolean {
    return this.net.isConnected(this.nodes[i].id);
  }

  disconnect(i: number): void {
    this.net.disconnect(this.nodes[i].id);
  }

  connect(i: number): void {
    this.net.connect(this.nodes[i].id);
  }

  /** 6.5840 crash1: the server stops and loses all but its persisted state. */
  crash1(i: number): void {
    this.disconnect(i);
    this.nodes[i].crash();
  }

  /** 6.5840 start1: restart from persisted state (still disconnected until connect()). */
  start1(i: number): void {
    this.nodes[i].crash();
    this.nodes[i].start();
  }

  setUnreliable(unreliable: boolean): void {
    this.net.reliable = !unreliable;
  }

  setLongReordering(on: boolean): void {
    this.net.longReordering = on;
  }

  rpcTotal(): number {
    return this.net.stats.rpcs;
  }

  bytesTotal(): number {
    return this.net.stats.bytes;
  }

  /** Start(cmd) on server i. */
  start(i: number, cmd: string): { index: number; term: number; isLeader: boolean } {
    return this.nodes[i].propose(enc.encode(cmd));
  }

  isLeader(i: number): boolean {
    return this.nodes[i].isLeader();
  }

  /** How many servers think the entry at `index` is committed (applied), and its command. */
  nCommitted(index: number): { count: number; cmd: string | undefined } {
    let count = 0;
    let cmd: string | undefined;
    for (const node of this.nodes) {
      const sm = node.sm;
      if (!(sm instanceof LogStateMachine)) continue;
      const v = sm.values.get(index);
      if (v === undefined) continue;
      if (cmd !== undefined && cmd !== v) this.fail(`committed values do not match: index ${index}, ${cmd}, ${v}`);
      count++;
      cmd = v;
    }
    return { count, cmd };
  }

  /** Exactly one leader among connected servers; returns its number. */
  checkOneLeader(): number {
    for (let iters = 0; iters < 10; iters++) {
      this.runFor(450 + this.rng.int(100));
      const leaders = new Map<number, number[]>();
      for (let i = 0; i < this.n; i++) {
        if (this.connected(i) && this.isLeader(i)) {
          const t = this.nodes[i].term;
          leaders.set(t, [...(leaders.get(t) ?? []), i]);
        }
      }
      let lastTerm = -1;
      for (const [term, ls] of leaders) {
        if (ls.length > 1) this.fail(`term ${term} has ${ls.length} (>1) leaders`);
        if (term > lastTerm) lastTerm = term;
      }
      if (leaders.size !== 0) return (leaders.get(lastTerm) as number[])[0];
    }
    return this.fail('expected one leader, got none');
  }

  /** Every connected server agrees on the term. */
  checkTerms(): number {
    let term = -1;
    for (let i = 0; i < this.n; i++) {
      if (!this.connected(i) || !this.nodes[i].alive) continue;
      const t = this.nodes[i].term;
      if (term === -1) term = t;
      else if (term !== t) this.fail('servers disagree on term');
    }
    return term;
  }

  checkNoLeader(): void {
    for (let i = 0; i < this.n; i++) {
      if (this.connected(i) && this.isLeader(i)) this.fail(`expected no leader among connected servers, but ${i} claims to be leader`);
    }
  }

  /**
   * Submits cmd until one leader commits it on at least `expected` servers
   * (6.5840's one()). With retry, a failed attempt is re-submitted.
   */
  one(cmd: string, expected: number, retry: boolean): number {
    const t0 = this.clock.now;
    let starts = 0;
    while (this.clock.now - t0 < 10 * 1000) {
      let index = -1;
      for (let si = 0; si < this.n; si++) {
        starts = (starts + 1) % this.n;
        if (this.connected(starts) && this.nodes[starts].alive) {
          const r = this.start(starts, cmd);
          if (r.isLeader) {
            index = r.index;
            break;
          }
        }
      }
      if (index !== -1) {
        const t1 = this.clock.now;
        while (this.clock.now - t1 < 2000) {
          const { count, cmd: got } = this.nCommitted(index);
          if (count > 0 && count >= expected && got === cmd) return index;
          this.runFor(20);
        }
        if (!retry) this.fail(`one(${cmd}) failed to reach agreement`);
      } else {
        this.runFor(50);
      }
    }
    return this.fail(`one(${cmd}) failed to reach agreement`);
  }

  /** Waits for at least n servers to commit `index`; -1 if the term moved past startTerm. */
  wait(index: number, n: number, startTerm: number): string | -1 {
    let to = 10;
    for (let iters = 0; iters < 30; iters++) {
      if (this.nCommitted(index).count >= n) break;
      this.runFor(to);
      if (to < 1000) to *= 2;
      if (startTerm > -1) {
        for (const node of this.nodes) if (node.alive && node.term > startTerm) return -1;
      }
    }
    const { count, cmd } = this.nCommitted(index);
    if (count < n) this.fail(`only ${count} decided for index ${index}; wanted ${n}`);
    return cmd as string;
  }

  /** Whether the committed entry at `index` is a client command (not a no-op or configuration change). */
  isCommand(index: number): boolean {
    const v = this.inv.committedValue(index);
    return v !== undefined && v.startsWith('0:') && v.length > 2;
  }

  /** Entries held in stable storage, at most (6.5840 3D checks the log stays small). */
  maxLogSize(): number {
    return Math.max(...this.nodes.map((n) => n.storage.entries.length));
  }
}

export function randstring(rng: Prng, n: number): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; i++) s += chars[rng.int(chars.length)];
  return s;
}

/**
 * A client that behaves like a goroutine running one(): it keeps submitting `cmd`
 * until it sees it committed on `expected` servers, without blocking the simulation.
 */
export class OneClient {
  done = false;
  index = -1;
  private starts = 0;

  constructor(private readonly c: Cluster, private readonly cmd: string, private readonly expected: number) {
    c.clock.schedule(0, () => this.attempt());
  }

  private attempt(): void {
    for (let si = 0; si < this.c.n; si++) {
      this.starts = (this.starts + 1) % this.c.n;
      if (this.c.connected(this.starts) && this.c.nodes[this.starts].alive) {
        const r = this.c.start(this.starts, this.cmd);
        if (r.isLeader) {
          this.watch(r.index, this.c.clock.now);
          return;
        }
      }
    }
    this.c.clock.schedule(50, () => this.attempt());
  }

  private watch(index: number, since: number): void {
    const { count, cmd } = this.c.nCommitted(index);
    if (count >= this.expected && cmd === this.cmd) {
      this.done = true;
      this.index = index;
      return;
    }
    if (this.c.clock.now - since > 2000) this.attempt();
    else this.c.clock.schedule(20, () => this.watch(index, since));
  }
}

/** Runs the simulation until every client is done, or fails after `limitMs`. */
export function awaitClients(c: Cluster, clients: readonly OneClient[], limitMs: number): void {
  const t0 = c.clock.now;
  while (!clients.every((cl) => cl.done)) {
    if (c.clock.now - t0 > limitMs) c.fail('clients failed to reach agreement');
    c.runFor(20);
  }
}
