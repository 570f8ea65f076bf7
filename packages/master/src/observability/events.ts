import type { ClusterStatusResponse } from '@dfs/proto';
import type { HealthSample } from '../master.js';

export interface ClusterEvent {
  atMs: number;
  kind: 'leader-changed' | 'node-registered' | 'node-dead' | 'node-back' | 'chunks-repaired' | 'chunks-at-risk' | 'safe-mode';
  message: string;
}

/** The last `capacity` events, newest first, for the status page. */
export class EventLog {
  private readonly events: ClusterEvent[] = [];

  constructor(private readonly capacity = 50) {}

  add(event: ClusterEvent): void {
    this.events.unshift(event);
    if (this.events.length > this.capacity) this.events.length = this.capacity;
  }

  recent(): readonly ClusterEvent[] {
    return this.events;
  }
}

/**
 * Turns successive cluster status samples into events by comparing each with the
 * previous one, so no failure-handling code has to know about the status page.
 */
export class StatusWatcher {
  private previous: HealthSample | undefined;

  constructor(private readonly log: EventLog) {}

  observe(now: number, s: HealthSample): void {
    const prev = this.previous;
    this.previous = s;
    if (!prev) return;
    if (s.leaderId !== prev.leaderId && s.leaderId) {
      this.log.add({ atMs: now, kind: 'leader-changed', message: `leader is now ${s.leaderId}${prev.leaderId ? ` (was ${prev.leaderId})` : ''}` });
    }
    const before = new Map(prev.chunkservers.map((c) => [c.id, c.state]));
    for (const c of s.chunkservers) {
      const was = before.get(c.id);
      if (was === undefined) this.log.add({ atMs: now, kind: 'node-registered', message: `chunkserver ${c.id} (${c.address}) registered` });
      else if (was !== 'dead' && c.state === 'dead') this.log.add({ atMs: now, kind: 'node-dead', message: `chunkserver ${c.id} declared dead` });
      else if (was === 'dead' && c.state !== 'dead') this.log.add({ atMs: now, kind: 'node-back', message: `chunkserver ${c.id} is back` });
    }
    const troubled = (x: HealthSample): number => x.underReplicated + x.missing + x.corrupt;
    if (troubled(prev) > 0 && troubled(s) === 0) {
      this.log.add({ atMs: now, kind: 'chunks-repaired', message: `every chunk has its full replica count again` });
    }
    if (prev.missing === 0 && s.missing > 0) this.log.add({ atMs: now, kind: 'chunks-at-risk', message: `${s.missing} chunk(s) have no live replica` });
    if (prev.safeMode !== s.safeMode) this.log.add({ atMs: now, kind: 'safe-mode', message: s.safeMode ? 'entered safe mode' : 'left safe mode' });
  }
}

export type Health = 'healthy' | 'degraded' | 'data at risk';

/**
 * One word for the cluster: data at risk (chunks with no live replica), degraded (fewer
 * copies than wanted, no leader, or a view that knows no live chunkserver — it cannot
 * vouch for anything), or healthy.
 */
export function healthOf(s: ClusterStatusResponse): Health {
  const live = s.chunkservers.filter((c) => c.state === 'live').length;
  if (s.missing > 0 || (live === 0 && s.totalChunks > 0)) return 'data at risk';
  if (s.underReplicated > 0 || s.corrupt > 0 || !s.leaderId || live === 0) return 'degraded';
  return 'healthy';
}
