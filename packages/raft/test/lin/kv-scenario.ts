import { Cluster } from '../sim/cluster.js';
import type { SimStateMachine } from '../sim/node.js';
import { checkHistory, type KvOp, type Operation } from './checker.js';

/*
 * A key-value service on the Raft core, concurrent simulated clients, and a nemesis that
 * partitions, crashes, restarts and makes the network lossy. Writes go through the log;
 * reads use ReadIndex on the node the client believes leads. The recorded history must
 * be linearizable. Shared by the mocha test and `npm run sim`.
 */
const enc = new TextEncoder();
const dec = new TextDecoder();

export class KvStateMachine implements SimStateMachine {
  data = new Map<string, string>();
  apply(_index: number, bytes: Uint8Array): unknown {
    const c = JSON.parse(dec.decode(bytes)) as { op: KvOp; k: string; v: string };
    const v = c.op === 'put' ? c.v : (this.data.get(c.k) ?? '') + c.v;
    this.data.set(c.k, v);
    return v;
  }
  snapshot(): Uint8Array {
    return enc.encode(JSON.stringify([...this.data]));
  }
  restore(bytes: Uint8Array): void {
    this.data = new Map(JSON.parse(dec.decode(bytes)) as Array<[string, string]>);
  }
}

export interface KvScenarioOptions {
  readonly seed: number;
  readonly servers?: number;
  readonly clients?: number;
  readonly keys?: number;
  /** Virtual milliseconds of client traffic under faults. */
  readonly durationMs?: number;
  /** Add and remove servers as part of the nemesis (default true). */
  readonly membership?: boolean;
  /** For the checker's own test: serve reads locally without ReadIndex (must be caught). */
  readonly staleReads?: boolean;
  /** Reads through the leader lease assuming this drift bound (else ReadIndex). */
  readonly lease?: { readonly maxDrift: number };
  /** Every node's ticks run this much faster than virtual time (real drift). */
  readonly fastClock?: number;
}

export interface KvScenarioResult {
  readonly ok: boolean;
  readonly ops: number;
  readonly timedOut: number;
  readonly badKey?: string;
  readonly events: number;
  readonly faults: string[];
  /** Reads served from a leader lease. */
  readonly leaseReads: number;
}

const OP_TIMEOUT = 1500;

export function runKvScenario(o: KvScenarioOptions): KvScenarioResult {
  const servers = o.servers ?? 5;
  const c = new Cluster({ n: servers, seed: o.seed, snapshotEvery: 40, makeSm: () => new KvStateMachine(), lease: o.lease, fastClock: o.fastClock });
  // Now and then a node dies between sending its appends and its own fsync.
  for (const n of c.nodes) n.crashBeforeFsync = () => !stop && c.rng.chance(0.0005);
  const keys = Array.from({ length: o.keys ?? 4 }, (_, i) => `k${i}`);
  const history: Operation[] = [];
  const faults: string[] = [];
  let stop = false;
  let timedOut = 0;

  for (let client = 0; client < (o.clients ?? 5); client++) {
    let guess = c.rng.int(c.n);
    let seq = 0;
    const next = (delay: number): void => {
      if (!stop) c.clock.schedule(delay, issue);
    };
    const issue = (): void => {
      const roll = c.rng.int(10);
      const op: KvOp = roll < 4 ? 'get' : roll < 7 ? 'append' : 'put';
      const key = c.rng.pick(keys);
      const value = op === 'append' ? `(${client}.${seq++})` : `${client}.${seq++}`;
      const call = c.clock.now;
      const node = c.nodes[guess];
      let finished = false;
      const done = (): boolean => {
        if (finished) return false;
        finished = true;
        return true;
      };
      c.clock.schedule(OP_TIMEOUT, () => {
        if (!done()) return;
        if (op !== 'get') {
          history.push({ client, op, key, value, output: undefined, call, ret: Infinity });
          timedOut++;
        }
        guess = c.rng.int(c.n);
        next(c.rng.between(1, 20));
      });
      if (op === 'get') {
        if (o.staleReads) {
          done();
          const sm = node.alive ? (node.sm as KvStateMachine) : undefined;
          if (sm && node.raw?.raft.lead) history.push({ client, op, key, value: '', output: sm.data.get(key) ?? '', call, ret: call });
          else guess = c.rng.int(c.n);
          next(c.rng.between(5, 30));
          return;
        }
        const read = o.lease ? node.linearizableRead.bind(node) : node.readIndex.bind(node);
        read((err) => {
          if (!done()) return;
          if (err) {
            guess = c.rng.int(c.n);
            next(c.rng.between(1, 20));
            return;
          }
          const sm = node.sm as KvStateMachine;
          history.push({ client, op, key, value: '', output: sm.data.get(key) ?? '', call, ret: c.clock.now });
          next(c.rng.between(1, 30));
        });
        return;
      }
      const r = node.propose(enc.encode(JSON.stringify({ op, k: key, v: value })), (err) => {
        if (!done()) return;
        if (err) {
          // Overwritten by another leader: certainly not applied.
          guess = c.rng.int(c.n);
          next(c.rng.between(1, 20));
          return;
        }
        history.push({ client, op, key, value, output: undefined, call, ret: c.clock.now });
        next(c.rng.between(1, 30));
      });
      if (!r.isLeader) {
        done();
        const lead = node.raw?.raft.lead;
        const li = lead ? c.indexOf(lead) : -1;
        guess = li >= 0 ? li : c.rng.int(c.n);
        next(c.rng.between(5, 20));
      }
    };
    next(c.rng.between(0, 50));
  }

  const nemesis = (): void => {
    if (stop) return;
    const ids = c.nodes.map((n) => n.id);
    const roll = c.rng.int(7);
    const down = c.nodes.filter((n) => !n.alive);
    if (roll === 0) {
      const shuffled = [...ids].sort(() => c.rng.next() - 0.5);
      const cut = 1 + c.rng.int(ids.length - 1);
      c.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      faults.push(`${c.clock.now}: partition ${shuffled.slice(0, cut)} | ${shuffled.slice(cut)}`);
    } else if (roll === 1) {
      c.net.heal();
      faults.push(`${c.clock.now}: heal`);
    } else if (roll === 2 && down.length < Math.floor((servers - 1) / 2)) {
      const i = c.rng.int(c.n);
      if (c.nodes[i].alive) {
        c.nodes[i].crash();
        faults.push(`${c.clock.now}: crash ${ids[i]}`);
      }
    } else if (roll === 3 && down.length > 0) {
      const n = c.rng.pick(down);
      n.start();
      faults.push(`${c.clock.now}: restart ${n.id}`);
    } else if (roll === 4) {
      c.setUnreliable(c.net.reliable);
      faults.push(`${c.clock.now}: ${c.net.reliable ? 'reliable' : 'unreliable'} network`);
    } else if (roll === 6 && o.membership !== false) {
      // One server at a time: remove a voter while there are five, else add a new one.
      const l = c.nodes.find((n) => n.isLeader());
      const conf = l?.raw?.raft.conf ?? [];
      if (l && conf.filter((m) => m.voter).length >= 5) {
        const victim = c.rng.pick(conf.filter((m) => m.id !== l.id));
        if (l.proposeConfChange('remove', victim.id)) faults.push(`${c.clock.now}: remove ${victim.id} (leader ${l.id})`);
      } else if (l && conf.length < 6) {
        const id = `n${c.n + 1}`;
        c.addSpareNode(id);
        if (l.proposeConfChange('add-learner', id)) faults.push(`${c.clock.now}: add ${id} (leader ${l.id})`);
      }
    } else if (roll === 5) {
      const l = c.nodes.findIndex((n) => n.isLeader());
      if (l >= 0) {
        c.nodes[l].crash();
        faults.push(`${c.clock.now}: crash leader ${ids[l]}`);
      }
    }
    c.clock.schedule(c.rng.between(200, 1500), nemesis);
  };
  c.clock.schedule(500, nemesis);

  c.runFor(o.durationMs ?? 10_000);
  // Heal everything and let clients finish against a healthy cluster.
  c.net.heal();
  c.setUnreliable(false);
  for (const n of c.nodes) if (!n.alive) n.start();
  c.runFor(2_000);
  stop = true;
  c.runFor(OP_TIMEOUT + 100);
  const r = checkHistory(history);
  const leaseReads = c.nodes.reduce((sum, n) => sum + n.leaseReadsServed, 0);
  return { ok: r.ok, ops: history.length, timedOut, badKey: r.badKey, events: c.inv.events, faults, leaseReads };
}
