import { Raft, type InitialState, type RaftOptions } from './raft.js';
import { MessageType, type ConfChange, type Entry, type HardState, type Message, type ReadState, type SnapshotMeta, type SoftState } from './types.js';

/*
 * The synchronous face of the core (etcd rawnode.go). The application loop is:
 *
 *   1. Feed inputs: tick() on a timer, step(m) for each received message,
 *      propose(data) for each command.
 *   2. If hasReady(), take rd = ready().
 *   3. If rd.snapshot: write it durably (file + metadata), then restore the state machine.
 *   4. Persist rd.hardState and rd.entries atomically and durably (one fsync for all of
 *      them: group commit). rd.entries may overwrite a suffix of the stored log.
 *      (Optimisation: the leader's own Append messages may be sent before this step,
 *      when rd.hardState does not change term or vote - see isEarlySendable.)
 *   5. Only now send rd.messages (they promise what step 4 made durable).
 *   6. Apply rd.committedEntries in order; serve rd.readStates once applied >= index.
 *   7. Call advance(rd), and go to 1.
 */
export interface Ready {
  /** Set when leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Set when term, vote or commit changed: persist before sending. */
  readonly hardState?: HardState;
  /** Entries to append to stable storage (overwriting any stored entries at or after entries[0].index). */
  readonly entries: readonly Entry[];
  /** A snapshot from the leader to install before anything else. */
  readonly snapshot?: SnapshotMeta;
  /** Committed entries to apply, in order. */
  readonly committedEntries: readonly Entry[];
  /** To send after persisting. */
  readonly messages: readonly Message[];
  /** Confirmed linearizable read points. */
  readonly readStates: readonly ReadState[];
  /** Contexts of reads that will never be confirmed (leadership lost). */
  readonly droppedReads: readonly number[];
}

export class RawNode {
  readonly raft: Raft;
  private prevHard: HardState;
  private prevSoft: SoftState;

  constructor(options: RaftOptions, init: InitialState) {
    this.raft = new Raft(options, init);
    this.prevHard = this.raft.hardState();
    this.prevSoft = { leader: '', role: 'follower' };
  }

  tick(): void {
    this.raft.tick();
  }

  step(m: Message): void {
    this.raft.step(m);
  }

  propose(data: Uint8Array): { index: number; term: number } {
    return this.raft.propose(data);
  }

  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    return this.raft.proposeConfChange(cc);
  }

  readIndex(context: number): boolean {
    return this.raft.readIndex(context);
  }

  transferLeader(to: string): boolean {
    return this.raft.transferLeader(to);
  }

  reportSnapshot(to: string, ok: boolean): void {
    this.raft.reportSnapshot(to, ok);
  }

  reportUnreachable(to: string): void {
    this.raft.reportUnreachable(to);
  }

  compact(index: number, retain = 0): SnapshotMeta {
    return this.raft.compact(index, retain);
  }

  softState(): SoftState {
    return { leader: this.raft.lead, role: this.raft.role };
  }

  hasReady(): boolean {
    const r = this.raft;
    r.flushProposals();
    if (r.msgs.length > 0 || r.readStates.length > 0 || r.droppedReads.length > 0) return true;
    if (r.log.pendingSnapshot) return true;
    if (r.log.stable < r.log.lastIndex()) return true;
    if (r.log.applied < r.log.committed) return true;
    if (!sameHard(r.hardState(), this.prevHard)) return true;
    const ss = this.softState();
    return ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role;
  }

  ready(): Ready {
    const r = this.raft;
    r.flushProposals();
    const hs = r.hardState();
    const ss = this.softState();
    const snapshot = r.log.pendingSnapshot;
    const rd: Ready = {
      softState: ss.leader !== this.prevSoft.leader || ss.role !== this.prevSoft.role ? ss : undefined,
      hardState: sameHard(hs, this.prevHard) ? undefined : hs,
      entries: r.log.unstableEntries(),
      snapshot,
      // After a snapshot, apply nothing until it is installed (it moves `applied`).
      committedEntries: snapshot ? [] : r.log.nextCommitted(16 << 20),
      messages: r.msgs,
      readStates: r.readStates,
      droppedReads: r.droppedReads,
    };
    r.msgs = [];
    r.readStates = [];
    r.droppedReads = [];
    return rd;
  }

  /** The application has done steps 3-6 for `rd`. */
  advance(rd: Ready): void {
    const r = this.raft;
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      if (r.log.pendingSnapshot === rd.snapshot) r.log.pendingSnapshot = undefined;
      r.appliedTo(rd.snapshot.index, []);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      // Stable up to `last` unless the log was truncated below it meanwhile.
      if (r.log.term(last.index) === last.term && last.index > r.log.stable) r.log.stable = last.index;
    }
    if (rd.snapshot && r.log.stable < rd.snapshot.index) r.log.stable = rd.snapshot.index;
    r.stableTo(r.log.stable);
    if (rd.committedEntries.length > 0) {
      r.appliedTo(rd.committedEntries[rd.committedEntries.length - 1].index, rd.committedEntries);
    }
  }
}

/**
 * May `m` leave before the Ready's fsync? Only a leader's replication traffic, and only
 * when the Ready does not change term or vote: an Append promises nothing about the
 * leader's own disk (the leader counts itself only after advance), while its term was
 * made durable in an earlier Ready, before it asked for votes (thesis 10.2.1).
 */
export function isEarlySendable(rd: Ready, m: Message, prevHard: { term: number; vote: string } | undefined): boolean {
  if (m.type !== MessageType.Append && m.type !== MessageType.Heartbeat) return false;
  if (!rd.hardState) return true;
  return prevHard !== undefined && rd.hardState.term === prevHard.term && rd.hardState.vote === prevHard.vote;
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
