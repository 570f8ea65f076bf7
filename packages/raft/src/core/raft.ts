import { applyConfChange, isVoter, learners, validateConfChange, voters } from './config.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { committedIndex, hasQuorum, voteResult } from './quorum.js';
import { ReadOnly } from './read-only.js';
import {
  decodeConfChange,
  encodeConfChange,
  EntryType,
  message,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type ReadState,
  type Role,
  type SnapshotMeta,
} from './types.js';

/*
 * The Raft state machine (etcd raft.go). Pure: no timers, sockets, files or promises.
 * Time is `tick()`, input is `step()` and `propose()`, output accumulates in `msgs`,
 * `readStates` and the log, and RawNode turns it into a Ready.
 *
 *                 times out                     times out, new election
 *                +---------+                     +---------+
 *                |         v                     |         v
 *   +----------+  +---------------+  quorum  +-----------+  quorum  +--------+
 *   | follower |->| pre-candidate |--------->| candidate |--------->| leader |
 *   +----------+  +---------------+  would   +-----------+  votes   +--------+
 *        ^   ^           |           vote           |                  |
 *        |   +-----------+--------------------------+                  |
 *        |    hears of a leader or a higher term                       |
 *        +-------------------------------------------------------------+
 *                 higher term, or check-quorum fails (thesis 6.2)
 */

/**
 * After losing its leader's stream, a follower campaigns within electionTicks plus a
 * 1/LEADER_LOST_JITTER_DIVISOR share of it: enough spread that the survivors rarely split
 * their votes (ticks are far longer than a vote's round trip).
 */
const LEADER_LOST_JITTER_DIVISOR = 4;

export interface RaftOptions {
  readonly id: string;
  /** Base election timeout in ticks; the real one is random in [electionTicks, 2*electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** A PRNG in [0, 1): the simulation passes a seeded one. */
  readonly random: () => number;
  /** Ask "would you vote for me?" before raising the term (thesis 9.6). Default true. */
  readonly preVote?: boolean;
  /** A leader steps down when it has not heard from a quorum for an election timeout (thesis 6.2). Default true. */
  readonly checkQuorum?: boolean;
  /** Appends in flight per follower in replicate state. Default 256. */
  readonly maxInflight?: number;
  /** Bytes of entries per append message. Default 1 MiB. */
  readonly maxMsgBytes?: number;
  /** Bytes of committed entries per Ready. Default 16 MiB. */
  readonly maxApplyBytes?: number;
  /** The leader promotes a learner once it has caught up. Default true. */
  readonly autoPromote?: boolean;
  /**
   * The driver serves leader-lease reads (lease.ts). Then a node also ignores campaigns for
   * `electionTicks` after it starts, as it does after hearing from a leader: a follower that
   * acknowledged the leader, crashed and restarted at once must not vote the lease away.
   * Needs checkQuorum. Default false.
   */
  readonly leaseReads?: boolean;
}

/** What stable storage held at start. */
export interface InitialState {
  readonly hardState: HardState;
  /** The latest snapshot; for a new cluster index 0, term 0 and the initial voters. */
  readonly snapshot: SnapshotMeta;
  /** (index, term) of the entry just before `entries` (<= snapshot index). */
  readonly offset: { index: number; term: number };
  readonly entries: readonly Entry[];
  /** What the state machine has applied (the core resumes after it). */
  readonly applied: number;
}

export type RaftErrorCode = 'not-leader' | 'transferring' | 'conf-pending' | 'invalid';

export class RaftError extends Error {
  constructor(readonly code: RaftErrorCode, message: string) {
    super(message);
    this.name = 'RaftError';
  }
}

export class Raft {
  readonly id: string;
  term: number;
  vote: string;
  role: Role = 'follower';
  lead = '';
  readonly log: RaftLog;
  conf: ConfState;
  /** (index, conf) for every configuration since the snapshot, oldest first. */
  private confHistory: Array<{ index: number; conf: ConfState }>;

  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /** Read contexts dropped because leadership was lost; the driver fails them. */
  droppedReads: number[] = [];

  private readonly progress = new Map<string, Progress>();
  private votes = new Map<string, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  /** The transport lost our leader's stream (its process died) and no leader has been heard since. */
  private leaderLost = false;
  private leadTransferee = '';
  /** This leader started a transfer in its term: forced votes bypass stickiness, so no more lease reads. */
  private transferredThisTerm = false;
  /** Ticks since this node started (to hold votes for an election timeout after a restart). */
  private ticksSinceStart = 0;
  /** Index of the latest configuration change the leader proposed. */
  private pendingConfIndex = 0;
  private readonly readOnly = new ReadOnly();
  /** Reads asked before this leader committed an entry of its term (thesis 6.4 step 1). */
  private pendingReads: number[] = [];
  /** Proposals arrived since the last broadcast (they go out together: one message per follower). */
  private needBroadcast = false;

  private readonly opts: Required<RaftOptions>;

  constructor(options: RaftOptions, init: InitialState) {
    this.opts = {
      preVote: true,
      checkQuorum: true,
      maxInflight: 256,
      maxMsgBytes: 1 << 20,
      maxApplyBytes: 16 << 20,
      autoPromote: true,
      leaseReads: false,
      ...options,
    };
    this.id = options.id;
    this.term = init.hardState.term;
    this.vote = init.hardState.vote;
    const applied = Math.min(Math.max(init.applied, init.snapshot.index), init.hardState.commit);
    this.log = new RaftLog(init.snapshot, init.offset, init.entries, init.hardState.commit, applied);
    this.conf = init.snapshot.conf;
    this.confHistory = [{ index: init.snapshot.index, conf: this.conf }];
    // Configuration changes up to `applied` took effect before the restart: replay them.
    for (let i = Math.max(init.snapshot.index, this.log.firstIndex() - 1) + 1; i <= this.log.applied; i++) {
      const e = this.log.entry(i);
      if (e && e.type === EntryType.ConfChange) this.applyConfEntry(e);
    }
    this.becomeFollower(this.term, '');
  }

  // ---- inputs ----------------------------------------------------------------------

  /** One unit of logical time. */
  tick(): void {
    if (this.ticksSinceStart < this.opts.electionTicks) this.ticksSinceStart++;
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Appends `data` to the leader's log; returns where it went. Throws RaftError otherwise. */
  propose(data: Uint8Array): { index: number; term: number } {
    this.checkCanPropose();
    return this.appendEntry(EntryType.Normal, data);
  }

  /** Proposes a one-server membership change. */
  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    this.checkCanPropose();
    if (this.pendingConfIndex > this.log.applied) throw new RaftError('conf-pending', 'a configuration change is still in progress');
    const why = validateConfChange(this.conf, cc);
    if (why !== undefined) throw new RaftError('invalid', why);
    const at = this.appendEntry(EntryType.ConfChange, encodeConfChange({ ...cc, conf: applyConfChange(this.conf, cc) }));
    this.pendingConfIndex = at.index;
    return at;
  }

  /**
   * Asks for a linearizable read point. The answer arrives as a ReadState with the same
   * context. Returns false on a non-leader.
   */
  readIndex(context: number): boolean {
    if (this.role !== 'leader') return false;
    if (this.log.term(this.log.committed) !== this.term) {
      this.pendingReads.push(context);
      return true;
    }
    this.startRead(context);
    return true;
  }

  /**
   * The index a lease read may be served at, or undefined when this node must not serve one
   * whatever its lease says: not the leader, nothing committed in its term yet (thesis 6.4
   * step 1), or it started a leader transfer this term. The driver checks the time (lease.ts).
   */
  leaseReadIndex(): number | undefined {
    if (!this.opts.leaseReads || !this.opts.checkQuorum || this.role !== 'leader' || this.transferredThisTerm) return undefined;
    if (this.log.term(this.log.committed) !== this.term) return undefined;
    return this.log.committed;
  }

  /** Hands leadership to `to` (thesis 3.10). Returns false when not possible. */
  transferLeader(to: string): boolean {
    if (this.role !== 'leader' || to === this.id || !isVoter(this.conf, to)) return false;
    if (this.leadTransferee === to) return true;
    this.leadTransferee = to;
    this.transferredThisTerm = true;
    this.electionElapsed = 0;
    const pr = this.progress.get(to);
    if (pr && pr.match === this.log.lastIndex()) this.send(message({ type: MessageType.TimeoutNow, from: this.id, to, term: this.term }));
    else this.sendAppend(to, true);
    return true;
  }

  /** The transport failed to deliver a snapshot (or it succeeded). */
  reportSnapshot(to: string, ok: boolean): void {
    const pr = this.progress.get(to);
    if (this.role !== 'leader' || !pr || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or the next heartbeat) before probing again.
    pr.probeSent = true;
  }

  /**
   * The transport could not reach `to`. A leader stops pipelining to it. A follower that
   * lost its stream to its own leader (the leader's process died: the kernel closed its
   * sockets) campaigns soon after the shortest election timeout instead of a random point in
   * the second one, so a failover takes about one timeout, not up to two. Only when it
   * campaigns changes: no vote is granted earlier than before (stickiness), so leases hold.
   */
  reportUnreachable(to: string): void {
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
    if (this.role === 'follower' && to === this.lead) {
      this.leaderLost = true;
      const soon = this.opts.electionTicks + Math.floor(this.opts.random() * Math.max(1, Math.floor(this.opts.electionTicks / LEADER_LOST_JITTER_DIVISOR)));
      this.randomizedElectionTimeout = Math.min(this.randomizedElectionTimeout, soon);
    }
  }

  /** The application wrote a snapshot covering `index`; drop the log before it, keeping `retain` entries. */
  compact(index: number, retain = 0): SnapshotMeta {
    if (index <= this.log.snapshot.index) return this.log.snapshot;
    if (index > this.log.applied) throw new Error(`compact ${index} beyond applied ${this.log.applied}`);
    const term = this.log.term(index);
    if (term === undefined) throw new Error(`compact ${index}: entry is gone`);
    const snap: SnapshotMeta = { index, term, conf: this.confAt(index) };
    this.log.snapshot = snap;
    this.log.compact(Math.max(this.log.offset().index, index - retain));
    while (this.confHistory.length > 1 && this.confHistory[1].index <= index) this.confHistory.shift();
    return snap;
  }

  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Leader stickiness: a node that heard from a live leader within the election
        // timeout ignores a campaign, so a rejoining node cannot depose it (thesis 4.2.3).
        const heard = this.lead !== '' && this.electionElapsed < this.opts.electionTicks;
        const justStarted = this.opts.leaseReads && this.ticksSinceStart < this.opts.electionTicks;
        const inLease = this.opts.checkQuorum && (heard || justStarted);
        if (inLease && !m.force) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResponse && !m.reject) {
        // Our own pre-campaign's term; we raise ours only when the quorum says yes.
      } else if (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, '');
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.Append)) {
        // A stale leader (perhaps cut off and unaware): tell it our term so it steps down.
        this.send(message({ type: MessageType.AppendResponse, from: this.id, to: m.from, term: this.term }));
      } else if (m.type === MessageType.PreVote) {
        this.send(message({ type: MessageType.PreVoteResponse, from: this.id, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        return;
      case 'follower':
        this.stepFollower(m);
        return;
    }
  }

  // ---- observers ---------------------------------------------------------------------

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  isVoter(): boolean {
    return isVoter(this.conf, this.id);
  }

  /** The leader's view of a follower's replication (undefined on non-leaders). */
  matchIndex(id: string): number | undefined {
    return this.progress.get(id)?.match;
  }

  /** The leader's flow-control view of a follower (for tests and status). */
  progressOf(id: string): { match: number; next: number; state: string; paused: boolean } | undefined {
    const pr = this.progress.get(id);
    return pr && { match: pr.match, next: pr.next, state: pr.state, paused: pr.isPaused() };
  }

  transferee(): string {
    return this.leadTransferee;
  }

  /** Flushes proposals batched since the last call into append messages. */
  flushProposals(): void {
    if (!this.needBroadcast) return;
    this.needBroadcast = false;
    if (this.role !== 'leader') return;
    if (!this.maybeCommit()) this.bcastAppend(false);
  }

  /** Entries up to `index` are on stable storage (RawNode.advance). */
  stableTo(index: number): void {
    if (this.role !== 'leader') return;
    const pr = this.progress.get(this.id);
    if (pr && pr.maybeUpdate(index)) this.maybeCommit();
  }

  /** Called by RawNode.advance for every applied entry. */
  appliedTo(index: number, entries: readonly Entry[]): void {
    for (const e of entries) if (e.type === EntryType.ConfChange) this.applyConfEntry(e);
    if (index > this.log.applied) this.log.applied = index;
    if (this.role === 'leader' && this.pendingReads.length > 0 && this.log.term(this.log.committed) === this.term) {
      const reads = this.pendingReads;
      this.pendingReads = [];
      for (const ctx of reads) this.startRead(ctx);
    }
  }

  // ---- roles -------------------------------------------------------------------------

  private becomeFollower(term: number, lead: string): void {
    const wasLeader = this.role === 'leader';
    this.reset(term);
    this.role = 'follower';
    this.lead = lead;
    if (lead !== '') this.leaderLost = false;
    if (wasLeader || this.readOnly.size > 0 || this.pendingReads.length > 0) {
      this.droppedReads.push(...this.readOnly.reset(), ...this.pendingReads);
      this.pendingReads = [];
    }
  }

  private becomePreCandidate(): void {
    // Term and vote stay as they are: a pre-vote changes nothing durable.
    this.role = 'pre-candidate';
    this.lead = '';
    this.votes = new Map();
    this.electionElapsed = 0;
    this.resetRandomizedTimeout();
    // With the leader known dead, a pre-vote the other survivor ignored (its own election
    // timeout had not quite run out: stickiness) is asked again within a tick or two, not after
    // a whole new timeout. Pre-votes change no term, so asking often disturbs nobody.
    if (this.leaderLost) this.randomizedElectionTimeout = 1 + Math.floor(this.opts.random() * 2);
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.leaderLost = false;
    for (const m of this.conf) {
      const pr = new Progress(this.log.lastIndex() + 1, this.opts.maxInflight);
      pr.recentActive = true;
      if (m.id === this.id) {
        pr.match = this.log.stable;
        pr.becomeReplicate();
      }
      this.progress.set(m.id, pr);
    }
    // A no-op of our own term lets us commit (Figure 8) and learn the commit index (section 8).
    const at = this.appendEntry(EntryType.Normal, new Uint8Array(0));
    // No configuration change until this one is applied: the leader must know every earlier change.
    this.pendingConfIndex = at.index;
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = '';
    }
    this.lead = '';
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes = new Map();
    this.progress.clear();
    this.leadTransferee = '';
    this.transferredThisTerm = false;
    this.pendingConfIndex = 0;
    this.needBroadcast = false;
  }

  private resetRandomizedTimeout(): void {
    this.randomizedElectionTimeout = this.opts.electionTicks + Math.floor(this.opts.random() * this.opts.electionTicks);
  }

  // ---- time ----------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.isVoter() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.opts.electionTicks) {
      this.electionElapsed = 0;
      if (this.opts.checkQuorum) {
        const ok = hasQuorum(voters(this.conf), (id) => id === this.id || this.progress.get(id)?.recentActive === true);
        for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
        if (!ok) {
          this.becomeFollower(this.term, '');
          return;
        }
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = '';
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastContext());
      this.maybePromoteLearner();
    }
  }

  // ---- elections (section 5.2) -------------------------------------------------------

  private campaign(transfer: boolean): void {
    if (!this.isVoter()) return;
    // Like etcd: no campaign while a committed configuration change is not yet applied;
    // we would count votes in a configuration that is already out of date.
    if (this.hasUnappliedConfChange()) return;
    if (!this.opts.preVote || transfer) {
      this.campaignForReal(transfer);
      return;
    }
    this.becomePreCandidate();
    this.votes.set(this.id, true);
    if (this.tallyPre()) return;
    for (const id of voters(this.conf)) {
      if (id === this.id) continue;
      this.send(
        message({ type: MessageType.PreVote, from: this.id, to: id, term: this.term + 1, index: this.log.lastIndex(), logTerm: this.log.lastTerm() }),
      );
    }
  }

  private campaignForReal(force: boolean): void {
    this.becomeCandidate();
    this.votes.set(this.id, true);
    if (this.tallyVotes()) return;
    for (const id of voters(this.conf)) {
      if (id === this.id) continue;
      this.send(
        message({ type: MessageType.Vote, from: this.id, to: id, term: this.term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), force }),
      );
    }
  }

  /** Returns true when the election is decided. */
  private tallyVotes(): boolean {
    const result = voteResult(voters(this.conf), this.votes);
    if (result === 'won') {
      this.becomeLeader();
      this.bcastAppend(true);
    } else if (result === 'lost') {
      this.becomeFollower(this.term, '');
    }
    return result !== 'pending';
  }

  /** Returns true when the pre-election is decided. */
  private tallyPre(): boolean {
    const result = voteResult(voters(this.conf), this.votes);
    if (result === 'won') this.campaignForReal(false);
    else if (result === 'lost') this.becomeFollower(this.term, '');
    return result !== 'pending';
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.PreVote;
    const canVote =
      this.vote === m.from ||
      (this.vote === '' && this.lead === '') ||
      // A pre-vote for a future term: we would vote if the term moved on.
      (pre && m.term > this.term);
    // Two survivors of a dead leader that pre-campaign at once would grant each other, become
    // candidates together and split the real vote (a second election timeout lost). So a
    // pre-candidate whose leader is lost yields only to a requester that ranks above it: a
    // longer log, or the same log and a greater id. The greatest of any connected majority
    // still gets every grant, so someone always wins.
    const yields = !(pre && this.role === 'pre-candidate' && this.leaderLost) || this.ranksAbove(m);
    const respType = pre ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    if (canVote && yields && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send(message({ type: respType, from: this.id, to: m.from, term: m.term }));
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(message({ type: respType, from: this.id, to: m.from, term: this.term, reject: true }));
    }
  }

  /** Whether the sender of a vote request has a longer log than ours, or the same log and a greater id. */
  private ranksAbove(m: Message): boolean {
    const lastTerm = this.log.lastTerm();
    const lastIndex = this.log.lastIndex();
    if (m.logTerm !== lastTerm) return m.logTerm > lastTerm;
    if (m.index !== lastIndex) return m.index > lastIndex;
    return m.from > this.id;
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.PreVoteResponse:
        if (this.role !== 'pre-candidate') return;
        this.votes.set(m.from, !m.reject);
        this.tallyPre();
        return;
      case MessageType.VoteResponse:
        if (this.role !== 'candidate') return;
        this.votes.set(m.from, !m.reject);
        this.tallyVotes();
        return;
      default:
        return;
    }
  }

  // ---- follower (Figure 2, "Receiver implementation") ----------------------------------

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.heardFromLeader(m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.heardFromLeader(m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snapshot:
        this.heardFromLeader(m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        // Leadership transfer: campaign at once, without a pre-vote (thesis 3.10).
        this.campaign(true);
        return;
      default:
        return;
    }
  }

  private heardFromLeader(from: string): void {
    this.electionElapsed = 0;
    this.lead = from;
    this.leaderLost = false;
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message({ type: MessageType.AppendResponse, from: this.id, to: m.from, term: this.term, index: this.log.committed }));
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.send(message({ type: MessageType.AppendResponse, from: this.id, to: m.from, term: this.term, index: last }));
      return;
    }
    // Fast back-off: name the last index whose term is <= the leader's prevLogTerm, so
    // the leader skips a whole conflicting term per round trip (section 5.3, last paragraph).
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(
      message({
        type: MessageType.AppendResponse,
        from: this.id,
        to: m.from,
        term: this.term,
        index: m.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    // The leader sends min(its commit, our match), so this never passes our log's end.
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(message({ type: MessageType.HeartbeatResponse, from: this.id, to: m.from, term: this.term, context: m.context }));
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (!s) return;
    if (s.index <= this.log.committed) {
      this.send(message({ type: MessageType.AppendResponse, from: this.id, to: m.from, term: this.term, index: this.log.committed }));
      return;
    }
    if (this.log.matchTerm(s.index, s.term)) {
      // We already hold the entry the snapshot ends at: just fast-forward the commit.
      this.log.commitTo(s.index);
    } else {
      this.log.restore(s);
      this.conf = s.conf;
      this.confHistory = [{ index: s.index, conf: s.conf }];
    }
    this.send(message({ type: MessageType.AppendResponse, from: this.id, to: m.from, term: this.term, index: this.log.committed }));
  }

  // ---- leader --------------------------------------------------------------------------

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppendResponse: {
        pr.recentActive = true;
        if (m.reject) {
          let next = m.rejectHint;
          if (m.logTerm > 0) next = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, next)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from, true);
          }
          return;
        }
        const wasPaused = pr.isPaused();
        if (pr.maybeUpdate(m.index)) {
          if (pr.state === 'probe') pr.becomeReplicate();
          else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
            pr.becomeProbe();
            pr.becomeReplicate();
          } else if (pr.state === 'replicate') pr.freeTo(m.index);
          if (this.maybeCommit()) {
            // bcastAppend has told everyone.
          } else if (wasPaused) {
            this.sendAppend(m.from, false);
          }
          this.sendMore(m.from);
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
            this.send(message({ type: MessageType.TimeoutNow, from: this.id, to: m.from, term: this.term }));
          }
        } else if (pr.state === 'replicate') {
          pr.freeTo(m.index);
        }
        return;
      }
      case MessageType.HeartbeatResponse: {
        pr.recentActive = true;
        pr.probeSent = false;
        if (pr.state === 'replicate' && pr.isPaused()) pr.freeFirst();
        // Behind: an append from `next` either delivers the rest or, if earlier appends
        // were lost, is rejected and drops the follower back to probing.
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context !== 0) {
          for (const rs of this.readOnly.ack(m.context, m.from, voters(this.conf))) this.readStates.push(rs);
        }
        return;
      }
      default:
        return;
    }
  }

  private checkCanPropose(): void {
    if (this.role !== 'leader') throw new RaftError('not-leader', `${this.id} is not the leader`);
    if (this.leadTransferee !== '') throw new RaftError('transferring', `leadership is moving to ${this.leadTransferee}`);
  }

  private appendEntry(type: EntryType, data: Uint8Array): { index: number; term: number } {
    const e: Entry = { term: this.term, index: this.log.lastIndex() + 1, type, data };
    this.log.append([e]);
    // The leader counts itself toward a quorum only once the entry is on its own disk
    // (stableTo), so its appends may go out before its fsync (thesis 10.2.1).
    this.needBroadcast = true;
    return { index: e.index, term: e.term };
  }

  /** Commits the highest index a quorum holds, but only an entry of this term (Figure 8, section 5.4.2). */
  private maybeCommit(): boolean {
    const mci = committedIndex(voters(this.conf), (id) => this.progress.get(id)?.match ?? 0);
    if (mci > this.log.committed && this.log.term(mci) === this.term) {
      this.log.commitTo(mci);
      // Followers learn the new commit index from the next append or heartbeat; an
      // empty append per commit would double the message count (6.5840 "count").
      this.bcastAppend(false);
      return true;
    }
    return false;
  }

  private bcastAppend(sendIfEmpty: boolean): void {
    for (const id of this.progress.keys()) {
      if (id === this.id) continue;
      this.sendAppend(id, sendIfEmpty);
      this.sendMore(id);
    }
  }

  /** Pipelines further appends while the window is open (replicate state only). */
  private sendMore(to: string): void {
    const pr = this.progress.get(to);
    while (pr && pr.state === 'replicate' && pr.next <= this.log.lastIndex() && !pr.isPaused()) {
      if (!this.sendAppend(to, false)) break;
    }
  }

  /** Sends one append (or the snapshot, when the needed entries are compacted). */
  private sendAppend(to: string, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const compacted = prevTerm === undefined || pr.next < this.log.firstIndex();
    if (compacted) {
      if (!pr.recentActive) return false;
      const snap = this.log.snapshot;
      pr.becomeSnapshot(snap.index);
      this.send(message({ type: MessageType.Snapshot, from: this.id, to, term: this.term, snapshot: snap }));
      return true;
    }
    const entries = this.log.slice(pr.next, this.log.lastIndex() + 1, this.opts.maxMsgBytes);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send(
      message({ type: MessageType.Append, from: this.id, to, term: this.term, index: prevIndex, logTerm: prevTerm, entries, commit: this.log.committed }),
    );
    pr.sentEntries(prevIndex + entries.length, entries.length);
    return true;
  }

  private bcastHeartbeat(context: number): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send(
        message({ type: MessageType.Heartbeat, from: this.id, to: id, term: this.term, commit: Math.min(pr.match, this.log.committed), context }),
      );
    }
  }

  private startRead(context: number): void {
    if (voters(this.conf).length === 1 && this.isVoter()) {
      this.readStates.push({ index: this.log.committed, context });
      return;
    }
    this.readOnly.add(context, this.log.committed, this.id);
    this.bcastHeartbeat(context);
  }

  private maybePromoteLearner(): void {
    if (!this.opts.autoPromote || this.leadTransferee !== '' || this.pendingConfIndex > this.log.applied) return;
    for (const id of learners(this.conf)) {
      const pr = this.progress.get(id);
      if (pr && pr.match >= this.log.committed) {
        this.proposeConfChange({ type: 'promote', id });
        return;
      }
    }
  }

  // ---- configuration -----------------------------------------------------------------

  private applyConfEntry(e: Entry): void {
    if (e.index <= this.confHistory[this.confHistory.length - 1].index) return; // already in effect
    const cc = decodeConfChange(e.data);
    this.conf = cc.conf ? [...cc.conf] : applyConfChange(this.conf, cc);
    this.confHistory.push({ index: e.index, conf: this.conf });
    if (this.role !== 'leader') return;
    if (cc.type === 'add-learner' && !this.progress.has(cc.id)) {
      const pr = new Progress(this.log.lastIndex() + 1, this.opts.maxInflight);
      pr.recentActive = true;
      this.progress.set(cc.id, pr);
      this.sendAppend(cc.id, true);
    } else if (cc.type === 'remove') {
      this.progress.delete(cc.id);
      if (cc.id === this.id) {
        // A leader that removed itself steps down; the rest elect a new one (thesis 4.2.2).
        this.becomeFollower(this.term, '');
        return;
      }
      if (this.leadTransferee === cc.id) this.leadTransferee = '';
      this.maybeCommit(); // the quorum shrank
    }
  }

  private hasUnappliedConfChange(): boolean {
    for (let i = Math.max(this.log.applied + 1, this.log.firstIndex()); i <= this.log.committed; i++) {
      if (this.log.entry(i)?.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  private confAt(index: number): ConfState {
    let conf = this.confHistory[0].conf;
    for (const h of this.confHistory) if (h.index <= index) conf = h.conf;
    return conf;
  }

  private send(m: Message): void {
    this.msgs.push(m);
  }
}

export { EntryType };
