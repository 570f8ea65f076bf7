import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/*
 * Where a CPU profile's time went, optionally cut to a window of the monotonic clock (µs, as
 * BENCH_PROFILE_DIR/windows.json records it): busy share, then the top functions by self time
 * and the top source files. Usage:
 *   node scripts/bench/dist/lib/profile-summary.js PROFILE.cpuprofile [FROM_US TO_US] [TOP]
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Summary {
  windowMs: number;
  busyMs: number;
  gcMs: number;
  top: Array<{ name: string; ms: number }>;
  files: Array<{ name: string; ms: number }>;
}

export function summarize(profile: Profile, fromUs = -Infinity, toUs = Infinity, topN = 25): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const files = new Map<string, number>();
  let t = profile.startTime;
  let windowUs = 0;
  let idle = 0;
  let gc = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (t < fromUs || t > toUs) continue;
    windowUs += dt;
    const node = byId.get(profile.samples[i]!)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += dt;
      continue;
    }
    if (functionName === '(garbage collector)') gc += dt;
    const file = url ? basename(url) : '(native)';
    const name = `${functionName || '(anonymous)'} ${file}${url ? `:${lineNumber + 1}` : ''}`;
    self.set(name, (self.get(name) ?? 0) + dt);
    files.set(file, (files.get(file) ?? 0) + dt);
  }
  const sorted = (m: Map<string, number>): Array<{ name: string; ms: number }> =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([name, us]) => ({ name, ms: us / 1000 }));
  return { windowMs: windowUs / 1000, busyMs: (windowUs - idle) / 1000, gcMs: gc / 1000, top: sorted(self), files: sorted(files) };
}

if (require.main === module) {
  const [path, from, to, top] = process.argv.slice(2);
  if (!path) {
    process.stderr.write('usage: profile-summary PROFILE.cpuprofile [FROM_US TO_US] [TOP]\n');
    process.exit(2);
  }
  const s = summarize(JSON.parse(readFileSync(path, 'utf8')) as Profile, from ? Number(from) : undefined, to ? Number(to) : undefined, top ? Number(top) : 25);
  const pct = (ms: number): string => `${((100 * ms) / Math.max(1, s.windowMs)).toFixed(1).padStart(5)}%`;
  process.stdout.write(`${basename(path)}: window ${s.windowMs.toFixed(0)} ms, busy ${pct(s.busyMs)}, GC ${pct(s.gcMs)}\n`);
  for (const f of s.top) process.stdout.write(`  ${pct(f.ms)}  ${f.name}\n`);
  process.stdout.write('  by file:\n');
  for (const f of s.files.slice(0, 12)) process.stdout.write(`  ${pct(f.ms)}  ${f.name}\n`);
}
