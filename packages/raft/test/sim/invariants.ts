import { SimFailure } from './failure.js';

/*
 * Safety properties of Figure 3, checked after every simulated event:
 *   - Election Safety: at most one leader per term.
 *   - Log Matching: same (index, term) => same entry and same prefix (chain hash).
 *   - Leader Completeness: a leader's log holds every entry committed before it.
 *   - State Machine Safety: every node applies the same entry at each index, in order.
 *   - Commit index never decreases (within one incarnation of a node).
 */
export interface NodeView {
  readonly id: string;
  readonly alive: boolean;
  readonly role: string;
  readonly term: number;
  readonly commit: number;
  readonly incarnation: number;
  /** Chain hash of the node's stored entry at `index`, if it has one. */
  hashAt(index: number): string | undefined;
  /** First index the node still stores individually (earlier: only in its snapshot). */
  snapshotIndex(): number;
}

export class Invariants {
  private readonly leaderOfTerm = new Map<number, string>();
  private readonly chain = new Map<string, string>();
  private readonly applied = new Map<number, { value: string; hash: string; by: string }>();
  private maxApplied = 0;
  private readonly lastCommit = new Map<string, { inc: number; commit: number }>();
  private readonly checkedLeader = new Set<string>();
  events = 0;

  private fail(what: string): never {
    throw new SimFailure(`invariant violated: ${what}`);
  }

  /** A node stored an entry. */
  stored(node: string, index: number, term: number, hash: string): void {
    const k = `${index}:${term}`;
    const h = this.chain.get(k);
    if (h === undefined) this.chain.set(k, hash);
    else if (h !== hash) this.fail(`log matching: ${node} stores a different log up to index ${index} term ${term}`);
  }

  /** A node applied the entry at `index` (with its stored chain hash). */
  appliedEntry(node: string, index: number, value: string, hash: string): void {
    const a = this.applied.get(index);
    if (a === undefined) {
      this.applied.set(index, { value, hash, by: node });
      if (index > this.maxApplied) this.maxApplied = index;
    } else if (a.value !== value || a.hash !== hash) {
      this.fail(`state machine safety: ${node} applied ${JSON.stringify(value)} at ${index}, ${a.by} applied ${JSON.stringify(a.value)}`);
    }
  }

  committedValue(index: number): string | undefined {
    return this.applied.get(index)?.value;
  }

  afterEvent(nodes: readonly NodeView[]): void {
    this.events++;
    for (const n of nodes) {
      if (!n.alive) continue;
      const last = this.lastCommit.get(n.id);
      if (last && last.inc === n.incarnation && n.commit < last.commit) this.fail(`${n.id} commit index went back from ${last.commit} to ${n.commit}`);
      this.lastCommit.set(n.id, { inc: n.incarnation, commit: n.commit });
      if (n.role !== 'leader') continue;
      const other = this.leaderOfTerm.get(n.term);
      if (other === undefined) this.leaderOfTerm.set(n.term, n.id);
      else if (other !== n.id) this.fail(`election safety: ${other} and ${n.id} are both leaders of term ${n.term}`);
      const key = `${n.id}@${n.term}`;
      if (!this.checkedLeader.has(key)) {
        this.checkedLeader.add(key);
        this.checkLeaderCompleteness(n);
      }
    }
  }

  private checkLeaderCompleteness(n: NodeView): void {
    const c = this.maxApplied;
    if (c === 0 || c <= n.snapshotIndex()) return;
    const want = this.applied.get(c)?.hash;
    const have = n.hashAt(c);
    if (have !== want) this.fail(`leader completeness: ${n.id}, leader of term ${n.term}, lacks committed entry ${c}`);
  }
}
