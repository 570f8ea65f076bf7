import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process, with process metrics and the RPC metrics every server records. */
export class Metrics {
  readonly registry = new Registry();
  readonly rpcDuration: Histogram<'service' | 'method' | 'code'>;
  readonly rpcTotal: Counter<'service' | 'method' | 'code'>;

  constructor(readonly component: 'master' | 'chunkserver', nodeId: string) {
    this.registry.setDefaultLabels({ component, node: nodeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'dfs_' });
    this.rpcDuration = new Histogram({
      name: 'dfs_rpc_duration_seconds',
      help: 'gRPC handler latency by method and dfs code',
      labelNames: ['service', 'method', 'code'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.rpcTotal = new Counter({
      name: 'dfs_rpc_total',
      help: 'gRPC calls handled by method and dfs code',
      labelNames: ['service', 'method', 'code'],
      registers: [this.registry],
    });
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (g: Gauge<L>) => void | Promise<void>): Gauge<L> {
    return new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      // prom-client awaits a collect() that returns a promise.
      ...(collect ? { collect(this: Gauge<L>) { return collect(this); } } : {}),
    });
  }

  /**
   * A counter mirrored from a running total kept elsewhere (a scrubber's bytes, copies
   * done): each scrape adds the growth since the last one, so it never goes backwards.
   */
  counterFromTotal(name: string, help: string, total: () => number | Promise<number>): Counter {
    let last = 0;
    return new Counter({
      name,
      help,
      registers: [this.registry],
      async collect(this: Counter) {
        const now = await total();
        if (now > last) this.inc(now - last);
        last = Math.max(last, now);
      },
    });
  }

  /** counterFromTotal for totals kept per label value (refusals by reason). */
  countersFromTotals<L extends string>(name: string, help: string, label: L, totals: () => Record<string, number>): Counter<L> {
    const last = new Map<string, number>();
    return new Counter<L>({
      name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect(this: Counter<L>) {
        for (const [value, now] of Object.entries(totals())) {
          const before = last.get(value) ?? 0;
          // Every label value is shown from the first scrape, at 0 if nothing happened yet.
          this.inc({ [label]: value } as Partial<Record<L, string>>, Math.max(0, now - before));
          last.set(value, Math.max(before, now));
        }
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
