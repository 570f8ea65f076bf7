import type { Metadata } from '@grpc/grpc-js';
import { APPLIED_INDEX_KEY, MasterServiceClient, channelOptions, DfsError, ErrorCode, findLeader, toDfsError, whoLeadsVia } from '@dfs/proto';
import { channelCredentials, explainConnectError, type Security } from '@dfs/security';
import { callUnary, delay, throwIfAborted, type UnaryMethod } from './rpc.js';

export interface MasterPoolOptions {
  masters: string[];
  security: Security;
  /** Deadline of one attempt against one master. */
  callTimeoutMs: number;
  /** How long to keep trying masters (elections, restarts) before giving up. */
  retryWindowMs: number;
  /** Bearer token presented on every call (who the masters think we are). */
  token?: string;
  /**
   * A master an earlier process found leading (the CLI keeps it between runs), used as if this
   * pool had found it: the first call goes to it alone instead of asking every master who leads
   * (a TLS handshake each). Only its own answer counts: a follower's redirect is followed, a
   * refused connection starts the search at once, a silent master is rechecked after
   * RECHECK_AFTER_MS. Ignored unless it is one of `masters`.
   */
  leaderHint?: string;
}

/** How long a call to the believed leader runs before the pool checks, in parallel, that it still leads. */
const RECHECK_AFTER_MS = 400;
/** Longest pause between rounds while no leader answers: a WhoLeads round is cheap, and the first call after an election should not wait out a long backoff. */
const MAX_BACKOFF_MS = 100;

/** Errors after which another master (or the same, later) may succeed. */
function isRetryable(err: DfsError): boolean {
  return (
    err.code === ErrorCode.NOT_LEADER ||
    err.code === ErrorCode.UNAVAILABLE ||
    err.code === ErrorCode.DEADLINE_EXCEEDED
  );
}

/**
 * Talks to the master group. It remembers the leader; when it knows none, or the one it knows
 * fails or stops answering, it asks every master at once who leads (findLeader: the highest
 * term among masters that say they lead) instead of trying masters one after another with a
 * timeout each. A master named by another's NOT_LEADER is asked once, directly: only its own
 * answer makes it the leader, and the call's recheck bounds a stale name. So a fresh process,
 * or one whose leader's host was cut off, reaches a new leader about one round trip after
 * its election. Every call has a deadline: a SIGSTOPped master never hangs a call.
 */
export class MasterPool {
  private readonly clients = new Map<string, MasterServiceClient>();
  private readonly addresses: string[];
  private leaderHint: string | undefined;
  /** The highest applied index any master's answer carried: what a follower read must wait for (read-your-writes). */
  appliedIndex = 0;
  /** Reads the applied index header of an answer. */
  readonly noteHeaders = (headers: Metadata): void => {
    const v = Number(headers.get(APPLIED_INDEX_KEY)[0] ?? 0);
    if (Number.isSafeInteger(v) && v > this.appliedIndex) this.appliedIndex = v;
  };
  private readonly whoLeads = whoLeadsVia((a) => this.clientFor(a));

  constructor(private readonly options: MasterPoolOptions) {
    if (options.masters.length === 0) {
      throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'no masters configured (use --masters or DFS_MASTERS)');
    }
    this.addresses = [...options.masters];
    if (options.leaderHint && this.addresses.includes(options.leaderHint)) this.leaderHint = options.leaderHint;
  }

  get masters(): readonly string[] {
    return this.addresses;
  }

  /** The master believed to lead, if any (set by the last successful call). */
  get leader(): string | undefined {
    return this.leaderHint;
  }

  clientFor(address: string): MasterServiceClient {
    let client = this.clients.get(address);
    if (!client) {
      client = new MasterServiceClient(address, channelCredentials(this.options.security), channelOptions());
      this.clients.set(address, client);
    }
    return client;
  }

  /** Asks every master at once; resolves with the leader's address, or undefined. */
  async findLeader(signal?: AbortSignal): Promise<string | undefined> {
    const probe = await findLeader(this.addresses, this.whoLeads, Math.min(this.options.callTimeoutMs, 2000), signal);
    return probe?.address;
  }

  /**
   * Runs one unary call on the leader, finding it (all masters at once) when unknown, and
   * retrying with a short backoff within the retry window.
   */
  async call<Req, Res>(
    pick: (client: MasterServiceClient) => UnaryMethod<Req, Res>,
    request: Req,
    opts: { signal?: AbortSignal; requestId?: string; timeoutMs?: number } = {},
  ): Promise<Res> {
    const giveUpAt = Date.now() + this.options.retryWindowMs;
    const tried = new Set<string>();
    let lastError: DfsError | undefined;
    let backoff = 25;
    let probeNow = false;
    let guess = 0;
    /** A master another one named as leader: asked next (its own answer decides), once per call. */
    let named: string | undefined;
    const followed = new Set<string>();
    for (;;) {
      throwIfAborted(opts.signal);
      // No leader found: guess round-robin (a lone master, or one too old to answer WhoLeads);
      // the guessed call re-checks who leads while it waits, so a wrong guess costs little.
      const target = named ?? ((!probeNow && this.leaderHint) || (await this.findLeader(opts.signal)) || this.addresses[guess++ % this.addresses.length]!);
      named = undefined;
      probeNow = false;
      tried.add(target);
      try {
        const res = await this.callWatched(target, pick, request, opts);
        this.leaderHint = target;
        return res;
      } catch (e) {
        const err = explainConnectError(toDfsError(e), target, this.options.security);
        if (err.code === ErrorCode.CANCELLED && !opts.signal?.aborted) {
          // callWatched gave up on a master that no longer leads: go straight to the new one.
          lastError = new DfsError(ErrorCode.UNAVAILABLE, `${target} stopped leading during the call`);
          continue;
        }
        if (!isRetryable(err)) throw err;
        lastError = err;
        if (err.code === ErrorCode.NOT_LEADER && err.leader && !this.addresses.includes(err.leader)) {
          // A master we were not told about (a lone --masters entry, a member added since):
          // ask it too. Only its own claim to lead is believed, never the redirect itself.
          this.addresses.push(err.leader);
          probeNow = true;
          continue;
        }
        if (err.code === ErrorCode.NOT_LEADER && err.leader && err.leader !== target && !followed.has(err.leader)) {
          // Ask the named master itself, at once: under load a WhoLeads round of every master
          // can miss its deadline again and again while the leader is known to the follower.
          followed.add(err.leader);
          named = err.leader;
          continue;
        }
        if (this.leaderHint === target) {
          // The leader we knew failed: ask everyone at once before any backoff.
          this.leaderHint = undefined;
          probeNow = true;
          continue;
        }
      }
      if (Date.now() >= giveUpAt) break;
      await delay(Math.min(backoff, Math.max(0, giveUpAt - Date.now())), opts.signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
    const detail = lastError ? `: ${lastError.message}` : '';
    throw new DfsError(
      ErrorCode.UNAVAILABLE,
      `no master leader reachable (tried ${[...tried].join(', ')})${detail}`,
      { cause: lastError },
    );
  }

  /**
   * One attempt at `address`. If it has not answered after RECHECK_AFTER_MS, asks every master
   * who leads, and cancels the attempt (CANCELLED) when another master leads at a higher
   * term: a leader cut off from the majority would otherwise hold the call for its whole deadline.
   */
  private async callWatched<Req, Res>(
    address: string,
    pick: (client: MasterServiceClient) => UnaryMethod<Req, Res>,
    request: Req,
    opts: { signal?: AbortSignal; requestId?: string; timeoutMs?: number },
  ): Promise<Res> {
    const attempt = new AbortController();
    const onOuterAbort = (): void => attempt.abort();
    opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const recheck = (): void => {
      timer = undefined;
      void this.findLeader(attempt.signal).then((leader) => {
        if (settled) return;
        if (leader && leader !== address) {
          this.leaderHint = leader;
          attempt.abort();
        } else {
          timer = setTimeout(recheck, RECHECK_AFTER_MS);
        }
      });
    };
    timer = setTimeout(recheck, RECHECK_AFTER_MS);
    try {
      const client = this.clientFor(address);
      return await callUnary(pick(client).bind(client), request, {
        timeoutMs: opts.timeoutMs ?? this.options.callTimeoutMs,
        signal: attempt.signal,
        requestId: opts.requestId,
        onHeaders: this.noteHeaders,
        ...(this.options.token ? { token: this.options.token } : {}),
      });
    } finally {
      settled = true;
      clearTimeout(timer);
      attempt.abort(); // ends a recheck still in flight
      opts.signal?.removeEventListener('abort', onOuterAbort);
    }
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
