import { DfsError, ErrorCode } from '@dfs/proto';
import { RaftNode, type NodeStatus } from '@dfs/raft';
import { hopTraceOn, markHop } from '@dfs/telemetry';
import type { CommandLog, CommandLogContext, CommandLogPeer, CommandLogStatus, Role } from './command-log.js';
import { encodeCommand, type Command, type CommandResult } from './state/commands.js';

export interface RaftCommandLogOptions {
  tickMs?: number;
  electionTicks?: number;
  snapshotEvery?: number;
  /** This master joins a running group (see RaftNodeOptions.join): `ctx.peers` are its members. */
  join?: boolean;
}

function roleOf(status: NodeStatus): Role {
  return status.role === 'pre-candidate' ? 'candidate' : status.role;
}

/**
 * The master's command log replicated by Raft (packages/raft): every metadata command is
 * a log entry, applied by the MetadataStore on every master in log order. Reads go
 * through the leader lease, or ReadIndex when the lease has lapsed (readBarrier), so a
 * deposed leader never serves a stale read.
 */
export class RaftCommandLog implements CommandLog {
  private readonly listeners: Array<(isLeader: boolean) => void> = [];
  private wasLeader = false;
  /** Proposals this node proposed that committed and applied (for metrics). */
  committedProposals = 0;

  /** Raft messages and snapshots refused at the gate, by reason (strangers, malformed, …). */
  raftRefusals(): Record<string, number> {
    return this.node.refusals();
  }

  private constructor(
    private readonly node: RaftNode,
    /** A member the leader has not heard from for this long is reported `unreachable`. */
    private readonly unreachableAfterMs: number,
  ) {
    node.onLeaderChange(() => {
      const now = node.isLeader();
      if (now === this.wasLeader) return;
      this.wasLeader = now;
      for (const l of this.listeners) l(now);
    });
  }

  static async start(ctx: CommandLogContext, opts: RaftCommandLogOptions = {}): Promise<RaftCommandLog> {
    const node = RaftNode.create({
      id: ctx.id,
      address: ctx.address,
      peers: ctx.peers.length > 0 ? ctx.peers : [{ id: ctx.id, address: ctx.address }],
      ...(opts.join ? { join: true } : {}),
      dir: `${ctx.dir}/raft`,
      stateMachine: ctx.stateMachine,
      server: ctx.grpcServer,
      security: ctx.security,
      logger: ctx.logger.child({ component: 'raft' }),
      ...(opts.tickMs ? { tickMs: opts.tickMs } : {}),
      ...(opts.electionTicks ? { electionTicks: opts.electionTicks } : {}),
      ...(opts.snapshotEvery ? { snapshotEvery: opts.snapshotEvery } : {}),
      ...(hopTraceOn ? { hop: (hop: string, index: number) => markHop(`raft.${hop}`, index) } : {}),
    });
    const log = new RaftCommandLog(node, (opts.tickMs ?? 100) * (opts.electionTicks ?? 10));
    await node.start();
    return log;
  }

  get raft(): RaftNode {
    return this.node;
  }

  async propose(cmd: Command): Promise<CommandResult> {
    const result = await this.node.propose(encodeCommand(cmd));
    this.committedProposals++;
    if (result === undefined) throw new DfsError(ErrorCode.INTERNAL, `command ${cmd.type} produced no result`);
    return result as CommandResult;
  }

  readBarrier(): Promise<void> {
    return this.node.linearizableRead();
  }

  isLeader(): boolean {
    return this.node.isLeader();
  }

  holdsLease(): boolean {
    return this.node.holdsLease();
  }

  leaderAddress(): string | undefined {
    return this.node.leader()?.address;
  }

  status(): CommandLogStatus {
    const s = this.node.status();
    const leader = this.node.leader();
    const isLeader = s.role === 'leader';
    const now = Date.now();
    const members: CommandLogPeer[] = s.members.map((m) => {
      if (m.id === s.id) {
        return { id: m.id, address: m.address, role: roleOf(s), term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex };
      }
      // Only the leader knows how far each follower got (its match index), and whether it
      // answers: one not heard from within an election timeout is unreachable.
      const silent = isLeader && (m.lastHeardMs === undefined || now - m.lastHeardMs > this.unreachableAfterMs);
      const role: Role = silent ? 'unreachable' : m.id === s.leaderId ? 'leader' : m.voter ? 'follower' : 'learner';
      const known = isLeader ? m.matchIndex ?? 0 : 0;
      return { id: m.id, address: m.address, role, term: s.term, commitIndex: known, appliedIndex: known };
    });
    return {
      id: s.id,
      role: roleOf(s),
      term: s.term,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      ...(leader ? { leaderId: leader.id, leaderAddress: leader.address } : {}),
      members,
    };
  }

  onLeadershipChange(listener: (isLeader: boolean) => void): void {
    this.listeners.push(listener);
  }

  addMember(id: string, address: string): Promise<void> {
    return this.node.addMember(id, address);
  }

  removeMember(id: string): Promise<void> {
    return this.node.removeMember(id);
  }

  transferLeadership(to?: string): Promise<void> {
    return this.node.transferLeadership(to);
  }

  close(): Promise<void> {
    return this.node.stop();
  }
}
