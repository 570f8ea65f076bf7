/*
 * The values that flow in and out of the pure Raft core. Nothing here does I/O.
 * Indexes and terms are plain numbers: 2^53 entries is more than any log will hold.
 */

export enum EntryType {
  Normal = 0,
  /** `data` is a JSON-encoded ConfChange. */
  ConfChange = 1,
}

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Empty for the no-op a new leader appends (section 8 of the paper). */
  readonly data: Uint8Array;
}

/** What must be on stable storage before any message that depends on it is sent (Figure 2). */
export interface HardState {
  readonly term: number;
  /** '' when this node has not voted in `term`. */
  readonly vote: string;
  readonly commit: number;
}

export interface Member {
  readonly id: string;
  readonly address: string;
  /** false: a learner, which receives the log but neither votes nor counts for commitment. */
  readonly voter: boolean;
}

/** The cluster configuration: members sorted by id. */
export type ConfState = readonly Member[];

export type ConfChangeType = 'add-learner' | 'promote' | 'remove';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly id: string;
  /** For add-learner. */
  readonly address?: string;
  /**
   * The whole configuration after the change, filled in by the leader when it proposes.
   * Applying sets the configuration to it, so a node that joined with no configuration
   * (or a wrong one) learns the right one from the first change it applies.
   */
  readonly conf?: ConfState;
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  /** The configuration as of `index`. */
  readonly conf: ConfState;
}

export enum MessageType {
  /** AppendEntries request (section 5.3). */
  Append = 1,
  AppendResponse = 2,
  /** RequestVote (section 5.2); `preVote` messages ask "would you vote?" (thesis 9.6). */
  Vote = 3,
  VoteResponse = 4,
  PreVote = 5,
  PreVoteResponse = 6,
  /** Leader heartbeat: carries commit and a ReadIndex context (thesis 6.4). */
  Heartbeat = 7,
  HeartbeatResponse = 8,
  /** InstallSnapshot (section 7); the data itself travels beside the message. */
  Snapshot = 9,
  /** Leadership transfer: "start an election now" (thesis 3.10). */
  TimeoutNow = 10,
}

/** One flat message, like etcd's raftpb.Message: unused fields are zero. */
export interface Message {
  readonly type: MessageType;
  readonly from: string;
  readonly to: string;
  readonly term: number;
  /** Append: term of the entry before `entries`; Vote: candidate's last log term; AppendResponse on reject: term at rejectHint. */
  readonly logTerm: number;
  /** Append: index before `entries`; Vote: candidate's last index; AppendResponse: match (or rejected) index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  /** ReadIndex context on heartbeats (0 = none). */
  readonly context: number;
  readonly snapshot?: SnapshotMeta;
  /** A vote asked for by a leadership transfer: voters ignore their leader lease. */
  readonly force: boolean;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state the application may want to observe; not persisted. */
export interface SoftState {
  readonly leader: string;
  readonly role: Role;
}

/** A ReadIndex request that has been confirmed by a quorum: safe to read once applied >= index. */
export interface ReadState {
  readonly index: number;
  readonly context: number;
}

export function message(fields: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return {
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: 0,
    force: false,
    ...fields,
  };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(decoder.decode(data)) as ConfChange;
  if (v.type !== 'add-learner' && v.type !== 'promote' && v.type !== 'remove') throw new Error(`bad conf change ${v.type}`);
  return v;
}
