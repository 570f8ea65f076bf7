import type { ChunkserverRef } from '@dfs/proto';

export type ReadPolicyName = 'round-robin' | 'random' | 'least-loaded';

export const READ_POLICIES: readonly ReadPolicyName[] = ['round-robin', 'random', 'least-loaded'];

/**
 * Orders a chunk's replicas for one read: the first is tried first, the rest are
 * fallbacks. Keeps in-flight counts so 'least-loaded' can spread parallel reads.
 */
export class ReadPolicy {
  private counter = 0;
  private readonly inflight = new Map<string, number>();

  constructor(readonly name: ReadPolicyName = 'round-robin') {}

  order(replicas: readonly ChunkserverRef[]): ChunkserverRef[] {
    if (replicas.length <= 1) return [...replicas];
    switch (this.name) {
      case 'random': {
        const out = [...replicas];
        for (let i = out.length - 1; i > 0; i--) {
          const j = Math.floor(Math.random() * (i + 1));
          [out[i], out[j]] = [out[j]!, out[i]!];
        }
        return out;
      }
      case 'least-loaded':
        return [...replicas].sort((a, b) => this.load(a.address) - this.load(b.address));
      case 'round-robin':
      default: {
        const start = this.counter++ % replicas.length;
        return [...replicas.slice(start), ...replicas.slice(0, start)];
      }
    }
  }

  private load(address: string): number {
    return this.inflight.get(address) ?? 0;
  }

  begin(address: string): void {
    this.inflight.set(address, this.load(address) + 1);
  }

  end(address: string): void {
    this.inflight.set(address, Math.max(0, this.load(address) - 1));
  }
}
