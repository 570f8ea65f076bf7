import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/*
 * Where a CPU profile's time went, optionally cut to a window of the monotonic clock (µs, as
 * BENCH_PROFILE_DIR/windows.json records it): busy share, then the top functions by self time
 * and the top source files, and the busy time by component: each sample goes to the innermost
 * frame on its stack that has a source file (a native callee such as SQLite's `run` or
 * `JSON.parse` counts for the code that called it), classified by COMPONENTS. Usage:
 *   node scripts/bench/dist/lib/profile-summary.js PROFILE.cpuprofile [FROM_US TO_US] [TOP]
 */

interface ProfileNode {
  id: number;
  parent?: number;
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
  components: Array<{ name: string; ms: number }>;
}

/** First match wins; tested against a frame's url (or its function name for V8's own entries). */
const COMPONENTS: Array<[RegExp, string]> = [
  [/^\(garbage collector\)$/, 'GC'],
  [/^\(program\)$/, 'V8/native outside JS (program)'],
  [/packages\/raft\/dist\/src\/core\//, 'raft core'],
  [/packages\/raft\/dist\/src\/storage\//, 'raft log storage (SQLite)'],
  [/packages\/raft\/dist\/src\/transport\//, 'raft transport (AppendEntries codec, streams)'],
  [/packages\/raft\/dist\/src\/driver\//, 'raft driver (Ready loop)'],
  [/packages\/master\/dist\/src\/state\//, 'apply + reads (state machine, SQLite)'],
  [/packages\/master\/dist\/src\/raft-command-log\.js|packages\/master\/dist\/src\/command-log\.js/, 'command log (encode/decode, retry cache)'],
  [/packages\/master\/dist\/src\/(auth\/|access\.js)|packages\/security\//, 'authorization, certificates'],
  [/packages\/master\/dist\/src\/observability\/audit-log\.js/, 'audit log'],
  [/packages\/master\/dist\/src\/observability\/metrics\.js|prom-client/, 'metrics'],
  [/packages\/telemetry\/|pino|sonic-boom|thread-stream/, 'logging, telemetry'],
  [/packages\/master\/dist\//, 'master (RPC shell, other)'],
  [/packages\/proto\/|protobufjs|long\//, 'protobuf encode/decode'],
  [/@grpc\/grpc-js/, 'grpc-js'],
  [/node:internal\/http2|node:http2/, 'HTTP/2 (node)'],
  [/node:_tls|node:tls|node:internal\/tls/, 'TLS (node JS)'],
  [/node:internal\/(streams|stream_base)|node:net|node:stream/, 'sockets, streams (node)'],
  [/node:internal\/(timers|process\/task_queues|async_hooks)|node:timers/, 'timers, microtasks (node)'],
  [/better-sqlite3/, 'better-sqlite3 (JS)'],
  [/^node:/, 'node core, other'],
];

function componentOf(node: ProfileNode, byId: Map<number, ProfileNode>): string {
  const fn = node.callFrame.functionName;
  if (fn === '(garbage collector)' || fn === '(program)') return COMPONENTS.find(([re]) => re.test(fn))![1];
  let n: ProfileNode | undefined = node;
  while (n && !n.callFrame.url) n = n.parent !== undefined ? byId.get(n.parent) : undefined;
  if (!n) return `(native: ${fn || 'anonymous'})`;
  const url = n.callFrame.url;
  return COMPONENTS.find(([re]) => re.test(url))?.[1] ?? `other: ${basename(url)}`;
}

export function summarize(profile: Profile, fromUs = -Infinity, toUs = Infinity, topN = 25): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const c of n.children ?? []) byId.get(c)!.parent = n.id;
  const components = new Map<string, number>();
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
    const component = componentOf(node, byId);
    components.set(component, (components.get(component) ?? 0) + dt);
  }
  const sorted = (m: Map<string, number>): Array<{ name: string; ms: number }> =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([name, us]) => ({ name, ms: us / 1000 }));
  return { windowMs: windowUs / 1000, busyMs: (windowUs - idle) / 1000, gcMs: gc / 1000, top: sorted(self), files: sorted(files), components: sorted(components) };
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
  process.stdout.write('  by component (share of the window; busy = 100% less idle):\n');
  for (const c of s.components) process.stdout.write(`  ${pct(c.ms)}  ${c.name}\n`);
  process.stdout.write('  by file:\n');
  for (const f of s.files.slice(0, 12)) process.stdout.write(`  ${pct(f.ms)}  ${f.name}\n`);
}
