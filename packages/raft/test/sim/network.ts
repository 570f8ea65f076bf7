import { MessageType, type Message } from '../../src/index.js';
import type { VirtualClock } from './clock.js';
import type { Prng } from '@dfs/testkit';

/*
 * An in-memory network that drops, duplicates, delays, reorders and partitions
 * (etcd's raft_test network, 6.5840's labrpc). Links are directed; `isolate`, `cut`
 * and `heal` make every partition one line.
 */
export interface Envelope {
  readonly msg: Message;
  /** The snapshot file travelling with a Snapshot message. */
  readonly snapshotData?: Uint8Array;
}

export interface NetworkStats {
  /** Requests sent (responses are not counted, as 6.5840 counts RPCs). */
  rpcs: number;
  /** Approximate bytes on the wire. */
  bytes: number;
}

export class SimNetwork {
  reliable = true;
  longReordering = false;
  /** Probability of losing a message on an unreliable network. */
  dropRate = 0.1;
  duplicateRate = 0.05;
  readonly stats: NetworkStats = { rpcs: 0, bytes: 0 };
  private readonly cutLinks = new Set<string>();
  private readonly disconnected = new Set<string>();

  constructor(
    private readonly clock: VirtualClock,
    private readonly rng: Prng,
    /** Delivers to a node; returns false when the node is down. */
    private readonly deliver: (env: Envelope) => boolean,
    /** Tells a sender how its snapshot transfer ended. */
    private readonly snapshotDone: (from: string, to: string, ok: boolean) => void,
    /**
     * Tells a sender a message was lost. Every loss is reported, also on cut links and random
     * drops where a real network says nothing: a spurious report must never cost safety.
     */
    private readonly unreachable: (from: string, to: string) => void = () => undefined,
  ) {}

  /** Cuts `id` off from everyone (both directions), as 6.5840's disconnect. */
  disconnect(id: string): void {
    this.disconnected.add(id);
  }

  connect(id: string): void {
    this.disconnected.delete(id);
  }

  isConnected(id: string): boolean {
    return !this.disconnected.has(id);
  }

  /** Cuts the links between a and b, both directions. */
  cut(a: string, b: string): void {
    this.cutLinks.add(`${a}>${b}`);
    this.cutLinks.add(`${b}>${a}`);
  }

  /** Splits the nodes into groups that cannot talk to each other. */
  partition(groups: readonly (readonly string[])[]): void {
    this.heal();
    for (let i = 0; i < groups.length; i++)
      for (let j = i + 1; j < groups.length; j++) for (const a of groups[i]) for (const b of groups[j]) this.cut(a, b);
  }

  heal(): void {
    this.cutLinks.clear();
  }

  linkUp(from: string, to: string): boolean {
    return !this.disconnected.has(from) && !this.disconnected.has(to) && !this.cutLinks.has(`${from}>${to}`);
  }

  send(env: Envelope): void {
    const m = env.msg;
    if (isRequest(m.type)) this.stats.rpcs++;
    this.stats.bytes += sizeOf(env);
    const snap = m.type === MessageType.Snapshot;
    if (!this.linkUp(m.from, m.to)) {
      if (snap) this.clock.schedule(this.rng.between(50, 200), () => this.snapshotDone(m.from, m.to, false));
      this.reportLoss(m);
      return;
    }
    let delay = this.rng.between(1, 5);
    if (!this.reliable) {
      if (this.rng.chance(this.dropRate)) {
        if (snap) this.clock.schedule(this.rng.between(50, 200), () => this.snapshotDone(m.from, m.to, false));
        this.reportLoss(m);
        return;
      }
      delay = this.rng.between(0, 27);
      if (this.rng.chance(this.duplicateRate)) this.schedule(env, this.rng.between(0, 60), false);
    }
    if (this.longReordering && this.rng.chance(0.1)) delay = 200 + this.rng.int(1 + this.rng.int(2000));
    this.schedule(env, delay, snap);
  }

  private schedule(env: Envelope, delay: number, reportSnapshot: boolean): void {
    this.clock.schedule(delay, () => {
      const m = env.msg;
      // A link cut while the message was in flight loses it, as a real partition would.
      const ok = this.linkUp(m.from, m.to) && this.deliver(env);
      if (reportSnapshot) this.snapshotDone(m.from, m.to, ok);
      if (!ok) this.reportLoss(m);
    });
  }

  private reportLoss(m: Message): void {
    this.clock.schedule(this.rng.between(1, 5), () => this.unreachable(m.from, m.to));
  }
}

function isRequest(t: MessageType): boolean {
  return t === MessageType.Append || t === MessageType.Vote || t === MessageType.PreVote || t === MessageType.Heartbeat || t === MessageType.Snapshot || t === MessageType.TimeoutNow;
}

function sizeOf(env: Envelope): number {
  let n = 48;
  for (const e of env.msg.entries) n += 24 + e.data.byteLength;
  if (env.snapshotData) n += env.snapshotData.byteLength;
  return n;
}
