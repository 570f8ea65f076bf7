import { Metadata } from '@grpc/grpc-js';
import type { MasterServiceClient, WhoLeadsResponse } from './gen/dfs/v1/master.js';

/*
 * Finding the master leader without waiting on dead masters one after another: ask every
 * master at once who leads, and believe only a master that says it leads itself, at the
 * highest term heard. A follower's "the leader is X" can be stale (X may be a deposed
 * leader cut off from the majority), so it is never followed.
 *
 * The answer is taken as soon as a majority of the masters have answered and one of them
 * leads at the highest term heard; otherwise GRACE_MS after the first answer, when every
 * master has answered or failed, or at the deadline (a SIGSTOPped master accepts connections
 * and never answers).
 * Undefined means "no leader right now" (an election is running): the caller retries.
 */

export interface LeaderProbe {
  /** The address that answered as leader, as dialled (so it is reachable from here). */
  address: string;
  term: number;
}

export type WhoLeadsCall = (address: string, deadlineMs: number, signal?: AbortSignal) => Promise<WhoLeadsResponse>;

/** A WhoLeads call through a grpc-js MasterServiceClient (what the client and chunkserver use). */
export function whoLeadsVia(clientFor: (address: string) => MasterServiceClient): WhoLeadsCall {
  return (address, deadlineMs, signal) =>
    new Promise<WhoLeadsResponse>((resolve, reject) => {
      const onAbort = (): void => call.cancel();
      const call = clientFor(address).whoLeads({}, new Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(res);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
}

/** How long to wait for the remaining masters after a first answer that does not settle it. */
const GRACE_MS = 200;

export function findLeader(addresses: readonly string[], ask: WhoLeadsCall, timeoutMs: number, signal?: AbortSignal): Promise<LeaderProbe | undefined> {
  const majority = Math.floor(addresses.length / 2) + 1;
  return new Promise((resolve) => {
    let best: LeaderProbe | undefined;
    let highestTerm = 0;
    let answered = 0;
    let settled = 0;
    let done = false;
    let grace: NodeJS.Timeout | undefined;
    const stop = new AbortController();
    const current = (): LeaderProbe | undefined => (best && best.term >= highestTerm ? best : undefined);
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      signal?.removeEventListener('abort', finish);
      stop.abort();
      // A self-declared leader below the highest term heard is deposed: not an answer.
      resolve(current());
    };
    const timer = setTimeout(finish, timeoutMs);
    signal?.addEventListener('abort', finish, { once: true });
    const decide = (): void => {
      if (settled === addresses.length) return finish();
      if (answered >= majority && current()) return finish();
      // Mid-election, a minority heard, or only a deposed leader: give the rest a moment, then
      // answer with what is known (a caller re-asks if that leader then fails to answer).
      if (answered > 0 || current()) grace ??= setTimeout(finish, GRACE_MS);
    };
    for (const address of addresses) {
      ask(address, timeoutMs, stop.signal).then(
        (res) => {
          settled++;
          answered++;
          const term = Number(res.term);
          highestTerm = Math.max(highestTerm, term);
          if (res.isLeader && (!best || term > best.term)) best = { address, term };
          decide();
        },
        () => {
          settled++;
          decide();
        },
      );
    }
    if (addresses.length === 0) finish();
  });
}
