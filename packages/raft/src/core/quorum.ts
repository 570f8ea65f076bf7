/*
 * Majority arithmetic, with no Raft types (etcd's quorum/majority.go).
 */

/** The largest index that a majority of `voters` have reached: the commit candidate. */
export function committedIndex(voters: readonly string[], match: (id: string) => number): number {
  if (voters.length === 0) return Number.MAX_SAFE_INTEGER; // an empty config commits everything (it cannot happen in practice)
  const sorted = voters.map(match).sort((a, b) => b - a);
  return sorted[Math.floor(voters.length / 2)];
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** The outcome of an election among `voters` given the votes so far. */
export function voteResult(voters: readonly string[], votes: ReadonlyMap<string, boolean>): VoteResult {
  const need = Math.floor(voters.length / 2) + 1;
  let yes = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) yes++;
  }
  if (yes >= need) return 'won';
  if (yes + missing >= need) return 'pending';
  return 'lost';
}

/** True when the ids in `acks` form a majority of `voters`. */
export function hasQuorum(voters: readonly string[], acks: (id: string) => boolean): boolean {
  let n = 0;
  for (const id of voters) if (acks(id)) n++;
  return n >= Math.floor(voters.length / 2) + 1;
}
