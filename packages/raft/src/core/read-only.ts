import { hasQuorum } from './quorum.js';
import type { ReadState } from './types.js';

/*
 * ReadIndex (thesis section 6.4, etcd read_only.go). A read request records the
 * leader's commit index, and the leader sends a heartbeat round carrying the request's
 * context. Once a quorum of voters answers that round, no other leader can have
 * committed anything newer, so the read may be served as soon as applied >= index.
 * Requests are confirmed in order: acking a later context confirms every earlier one.
 */
interface PendingRead {
  readonly context: number;
  readonly index: number;
  readonly acks: Set<string>;
}

export class ReadOnly {
  private queue: PendingRead[] = [];

  add(context: number, index: number, self: string): void {
    this.queue.push({ context, index, acks: new Set([self]) });
  }

  /** Records that `from` answered a heartbeat carrying `context`; returns newly confirmed reads. */
  ack(context: number, from: string, voters: readonly string[]): ReadState[] {
    const pos = this.queue.findIndex((r) => r.context === context);
    if (pos < 0) return [];
    // An answer to context c also confirms leadership as of every earlier request.
    for (let i = 0; i <= pos; i++) this.queue[i].acks.add(from);
    let last = -1;
    for (let i = 0; i < this.queue.length; i++) {
      const acks = this.queue[i].acks;
      if (hasQuorum(voters, (id) => acks.has(id))) last = i;
    }
    if (last < 0) return [];
    const done = this.queue.splice(0, last + 1);
    return done.map((r) => ({ index: r.index, context: r.context }));
  }

  /** The newest pending context, which the next heartbeat round carries. */
  lastContext(): number {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1].context : 0;
  }

  /** Drops every pending read (leadership lost); returns their contexts. */
  reset(): number[] {
    const ctx = this.queue.map((r) => r.context);
    this.queue = [];
    return ctx;
  }

  get size(): number {
    return this.queue.length;
  }
}
