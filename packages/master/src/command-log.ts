import { DfsError, ErrorCode } from '@dfs/proto';
import { encodeCommand, type Command, type CommandResult } from './state/commands.js';
import type { Server } from '@grpc/grpc-js';
import type { StateMachine } from '@dfs/raft';
import type { Security } from '@dfs/security';
import type { Logger } from '@dfs/telemetry';

export type Role = 'leader' | 'follower' | 'candidate' | 'learner' | 'unreachable';

export interface CommandLogPeer {
  id: string;
  address: string;
  role: Role;
  term: number;
  commitIndex: number;
  appliedIndex: number;
}

export interface CommandLogStatus {
  id: string;
  role: Role;
  term: number;
  commitIndex: number;
  appliedIndex: number;
  leaderId?: string;
  leaderAddress?: string;
  /** Every member, this node included. */
  members: CommandLogPeer[];
}

export interface MasterPeer {
  id: string;
  address: string;
}

/** What a CommandLog factory gets: the state machine to drive and the server to add its service to. */
export interface CommandLogContext {
  id: string;
  dir: string;
  address: string;
  peers: MasterPeer[];
  stateMachine: StateMachine;
  grpcServer: Server;
  security: Security;
  logger: Logger;
}

/**
 * The seam between the master service and consensus. The service stamps a Command and
 * proposes it; the implementation replicates the encoded bytes, applies them through the
 * StateMachine on every node, and resolves `propose` with *this node's* apply result for
 * that entry. A Raft-backed implementation (packages/raft) slots in here.
 *
 *  - propose: rejects with DfsError NOT_LEADER (with the leader's address when known) on a
 *    follower, or when leadership is lost before the entry commits (outcome unknown).
 *  - readBarrier: resolves once this node has applied everything committed before the call
 *    and is still leader (leader lease, else ReadIndex); a linearizable read may then run on the local DB.
 *  - onLeadershipChange: called on every *change* (not for the state at subscription time:
 *    read isLeader() for that); the service resets its soft state (safe mode, registry).
 */
export interface CommandLog {
  propose(cmd: Command): Promise<CommandResult>;
  readBarrier(): Promise<void>;
  isLeader(): boolean;
  /**
   * Leads, and no other leader can exist right now (a valid Raft leader lease): what an
   * irreversible order such as deleting a replica needs. A leader deposed while stalled
   * answers false until it would have renewed, which it cannot.
   */
  holdsLease(): boolean;
  leaderAddress(): string | undefined;
  status(): CommandLogStatus;
  onLeadershipChange(listener: (isLeader: boolean) => void): void;
  /** Raft membership, one server at a time (leader only); absent on a single-node log. */
  addMember?(id: string, address: string): Promise<void>;
  removeMember?(id: string): Promise<void>;
  close(): Promise<void>;
}

/** Single node, no replication: always the leader; applies each command at the next index. */
export class LocalCommandLog implements CommandLog {
  private closed = false;

  constructor(
    private readonly sm: StateMachine,
    private readonly self: { id: string; address: () => string },
  ) {}

  async propose(cmd: Command): Promise<CommandResult> {
    if (this.closed) throw new DfsError(ErrorCode.UNAVAILABLE, 'master is shutting down');
    const data = encodeCommand(cmd);
    return this.sm.apply(this.sm.appliedIndex() + 1, data) as CommandResult;
  }

  async readBarrier(): Promise<void> {
    if (this.closed) throw new DfsError(ErrorCode.UNAVAILABLE, 'master is shutting down');
  }

  isLeader(): boolean {
    return !this.closed;
  }

  holdsLease(): boolean {
    return !this.closed;
  }

  leaderAddress(): string {
    return this.self.address();
  }

  status(): CommandLogStatus {
    const applied = this.sm.appliedIndex();
    const me: CommandLogPeer = {
      id: this.self.id, address: this.self.address(), role: 'leader', term: 1, commitIndex: applied, appliedIndex: applied,
    };
    return { ...me, leaderId: me.id, leaderAddress: me.address, members: [me] };
  }

  onLeadershipChange(_listener: (isLeader: boolean) => void): void {
    // A single node is leader from start to close: there is never a change to report.
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
