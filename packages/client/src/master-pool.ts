import { MasterServiceClient, channelOptions, DfsError, ErrorCode } from '@dfs/proto';
import { channelCredentials, explainConnectError, type Security } from '@dfs/security';
import { callUnary, delay, throwIfAborted, type UnaryMethod } from './rpc.js';

export interface MasterPoolOptions {
  masters: string[];
  security: Security;
  /** Deadline of one attempt against one master. */
  callTimeoutMs: number;
  /** How long to keep trying masters (elections, restarts) before giving up. */
  retryWindowMs: number;
}

/** Redirects followed per round before backing off (guards against a redirect loop mid-election). */
const MAX_REDIRECTS = 3;

/** Errors after which another master (or the same, later) may succeed. */
function isRetryable(err: DfsError): boolean {
  return (
    err.code === ErrorCode.NOT_LEADER ||
    err.code === ErrorCode.UNAVAILABLE ||
    err.code === ErrorCode.DEADLINE_EXCEEDED
  );
}

/**
 * Talks to the master group: remembers the leader, follows NOT_LEADER hints, and
 * rotates through every configured master with a per-call deadline, so a dead or
 * SIGSTOPped master never hangs a call.
 */
export class MasterPool {
  private readonly clients = new Map<string, MasterServiceClient>();
  private readonly addresses: string[];
  private leaderHint: string | undefined;

  constructor(private readonly options: MasterPoolOptions) {
    if (options.masters.length === 0) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'no masters configured (use --masters or DFS_MASTERS)');
    }
    this.addresses = [...options.masters];
  }

  get masters(): readonly string[] {
    return this.addresses;
  }

  clientFor(address: string): MasterServiceClient {
    let client = this.clients.get(address);
    if (!client) {
      client = new MasterServiceClient(address, channelCredentials(this.options.security), channelOptions());
      this.clients.set(address, client);
    }
    return client;
  }

  /** The order to try masters in: the known leader first. */
  private candidates(): string[] {
    const hint = this.leaderHint;
    if (!hint) return this.addresses;
    return [hint, ...this.addresses.filter((a) => a !== hint)];
  }

  /**
   * Runs one unary call on the leader, following NOT_LEADER redirects and retrying
   * with backoff across all masters within the retry window.
   */
  async call<Req, Res>(
    pick: (client: MasterServiceClient) => UnaryMethod<Req, Res>,
    request: Req,
    opts: { signal?: AbortSignal; requestId?: string; timeoutMs?: number } = {},
  ): Promise<Res> {
    const giveUpAt = Date.now() + this.options.retryWindowMs;
    const tried = new Set<string>();
    let lastError: DfsError | undefined;
    let backoff = 50;
    let redirects = 0;
    for (;;) {
      throwIfAborted(opts.signal);
      let redirected = false;
      for (const address of this.candidates()) {
        try {
          const client = this.clientFor(address);
          const res = await callUnary(pick(client).bind(client), request, {
            timeoutMs: opts.timeoutMs ?? this.options.callTimeoutMs,
            signal: opts.signal,
            requestId: opts.requestId,
          });
          this.leaderHint = address;
          return res;
        } catch (e) {
          const err = explainConnectError(e as DfsError, address, this.options.security);
          tried.add(address);
          if (!isRetryable(err)) throw err;
          lastError = err;
          if (err.code === ErrorCode.NOT_LEADER && err.leader && err.leader !== address && redirects < MAX_REDIRECTS) {
            if (!this.addresses.includes(err.leader)) this.addresses.push(err.leader);
            this.leaderHint = err.leader;
            redirects++;
            redirected = true;
            break; // restart the round with the hinted leader first
          }
          if (this.leaderHint === address) this.leaderHint = undefined;
        }
      }
      // Following a redirect costs no backoff: the hinted leader is tried at once.
      if (redirected) continue;
      if (Date.now() >= giveUpAt) break;
      redirects = 0;
      await delay(Math.min(backoff, Math.max(0, giveUpAt - Date.now())), opts.signal);
      backoff = Math.min(backoff * 2, 1000);
    }
    const detail = lastError ? `: ${lastError.message}` : '';
    throw new DfsError(
      ErrorCode.UNAVAILABLE,
      `no master leader reachable (tried ${[...tried].join(', ')})${detail}`,
      { cause: lastError },
    );
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
