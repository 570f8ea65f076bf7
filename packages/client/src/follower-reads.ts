import { DfsError, ErrorCode, type MasterServiceClient } from '@dfs/proto';
import type { MasterPool } from './master-pool.js';
import { callUnary, type UnaryMethod } from './rpc.js';

/*
 * Follower reads with read-your-writes (HDFS observer reads, HDFS-12943): read-only calls
 * (stat, list, locate) go round-robin to every master, each carrying min_index = the highest
 * applied index this client has seen in any answer — at least as high as its own last write.
 * A master answers once it has applied that far (so the answer is never older than what the
 * client already saw); one that cannot, or cannot be reached, sends the call to the leader
 * (NOT_LEADER), where it is an ordinary linearizable read.
 */

const FOLLOWER_TIMEOUT_MS = 2000;

/** Errors after which the read goes to the leader instead. */
function fallsBack(err: DfsError): boolean {
  return err.code === ErrorCode.NOT_LEADER || err.code === ErrorCode.UNAVAILABLE || err.code === ErrorCode.DEADLINE_EXCEEDED;
}

export class FollowerReads {
  private next = 0;
  /** Answers by followers (or the leader picked in turn) and reads sent on to the leader, for tests and benchmarks. */
  readonly stats = { spread: 0, fellBack: 0 };

  constructor(
    private readonly pool: MasterPool,
    private readonly callTimeoutMs: number,
  ) {}

  async call<Req extends { minIndex?: number }, Res>(
    pick: (client: MasterServiceClient) => UnaryMethod<Req, Res>,
    request: Req,
    opts: { signal?: AbortSignal; requestId?: string } = {},
  ): Promise<Res> {
    const masters = this.pool.masters;
    const address = masters[this.next++ % masters.length]!;
    const client = this.pool.clientFor(address);
    try {
      const res = await callUnary(pick(client).bind(client), { ...request, minIndex: Math.max(1, this.pool.appliedIndex) }, {
        // A paused follower must not cost a whole master-call deadline: the leader is the fallback.
        timeoutMs: Math.min(this.callTimeoutMs, FOLLOWER_TIMEOUT_MS),
        signal: opts.signal,
        requestId: opts.requestId,
        onHeaders: this.pool.noteHeaders,
      });
      this.stats.spread++;
      return res;
    } catch (err) {
      if (!(err instanceof DfsError) || !fallsBack(err)) throw err;
      this.stats.fellBack++;
      return this.pool.call(pick, { ...request, minIndex: 0 }, opts);
    }
  }
}
