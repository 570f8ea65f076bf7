import { readFileSync } from 'node:fs';

/** Resident set size of a process in bytes (Linux /proc), or undefined once it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak RSS of a process so far in bytes (VmHWM, Linux /proc), or undefined once it is gone. */
export function peakRssOf(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples the RSS of every named process every `intervalMs` and keeps the maximum of each.
 * `self` is this process (the client).
 */
export class RssSampler {
  readonly peak = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: Map<string, number>, private readonly intervalMs = 200) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop(): Map<string, number> {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return this.peak;
  }

  private sample(): void {
    this.note('client', process.memoryUsage().rss);
    for (const [name, pid] of this.pids) {
      const rss = rssOf(pid);
      if (rss !== undefined) this.note(name, rss);
    }
  }

  private note(name: string, rss: number): void {
    this.peak.set(name, Math.max(this.peak.get(name) ?? 0, rss));
  }
}
