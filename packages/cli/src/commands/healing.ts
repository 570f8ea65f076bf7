import type { Command } from 'commander';
import { DfsError, ErrorCode, parseDuration, type FsckResponse } from '@dfs/proto';
import { clientFrom, type ClientFlags } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { humanSize } from '../format.js';
import { withClientFlags } from './shared.js';

/*
 * Self-healing visibility and operations: `dfs fsck`, `dfs admin decommission`,
 * `dfs admin balance`. Each is one RPC to the master leader (it alone knows where replicas are).
 */

export function fsckJson(path: string, r: FsckResponse): Record<string, unknown> {
  return {
    path,
    healthy: r.healthy,
    safeMode: r.safeMode,
    files: r.files,
    directories: r.directories,
    totalBytes: r.totalBytes,
    chunks: {
      total: r.totalChunks,
      underReplicated: r.underReplicated,
      missing: r.missing,
      corrupt: r.corrupt,
      overReplicated: r.overReplicated,
    },
    replication: { queue: r.replicationQueue, inflight: r.replicationInflight },
    problems: r.problems.map((p) => ({
      path: p.path,
      index: p.index,
      handle: p.handle,
      status: p.status,
      liveReplicas: p.liveReplicas,
      target: p.target,
      replicas: p.replicas,
      corruptReplicas: p.corruptReplicas,
    })),
    problemsOmitted: r.problemsOmitted,
    setAside: r.setAside,
    setAsideOmitted: r.setAsideOmitted,
  };
}

function fsckStatus(r: FsckResponse): string {
  if (r.missing > 0) return 'MISSING CHUNKS';
  if (r.corrupt > 0) return 'CORRUPT REPLICAS';
  if (r.underReplicated > 0) return 'UNDER-REPLICATED';
  if (r.safeMode) return 'SAFE MODE (replica locations incomplete)';
  return 'HEALTHY';
}

function printFsck(path: string, r: FsckResponse): void {
  const out: string[] = [];
  for (const p of r.problems) {
    const corrupt = p.corruptReplicas.length > 0 ? `; corrupt on ${p.corruptReplicas.join(',')}` : '';
    out.push(`${p.path}: chunk ${p.index} (handle ${p.handle}) ${p.status}: ${p.liveReplicas}/${p.target} live replicas [${p.replicas.join(',')}]${corrupt}`);
  }
  if (r.problemsOmitted > 0) out.push(`... and ${r.problemsOmitted} more problem chunks`);
  if (out.length > 0) out.push('');
  out.push(`Status: ${fsckStatus(r)}`);
  out.push(`  Path:              ${path}`);
  out.push(`  Files:             ${r.files}   Directories: ${r.directories}   Bytes: ${humanSize(r.totalBytes)}`);
  out.push(`  Chunks:            ${r.totalChunks}`);
  out.push(`  Under-replicated:  ${r.underReplicated}`);
  out.push(`  Missing:           ${r.missing}`);
  out.push(`  Corrupt:           ${r.corrupt}`);
  out.push(`  Over-replicated:   ${r.overReplicated}`);
  out.push(`  Re-replication:    ${r.replicationQueue} queued, ${r.replicationInflight} copying`);
  if (r.setAside.length > 0) {
    // After `dfs master --restore`: what the chunkservers hold that the backup does not know.
    out.push('', `Written after the restored backup (${r.setAside.length + r.setAsideOmitted} replicas; newer-chunk: kept aside, not served or deleted; newer-version: serves the backed-up bytes):`);
    for (const a of r.setAside) out.push(`  ${a.chunkserverId}: handle ${a.handle} version ${a.version} ${humanSize(a.length)} ${a.reason}`);
    if (r.setAsideOmitted > 0) out.push(`  ... and ${r.setAsideOmitted} more`);
  }
  process.stdout.write(out.join('\n') + '\n');
}

async function waitUntil<T>(what: string, timeoutMs: number, poll: () => Promise<T>, done: (v: T) => boolean, progress: (v: T) => void): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await poll();
    progress(v);
    if (done(v)) return v;
    if (Date.now() > deadline) throw new DfsError(ErrorCode.DEADLINE_EXCEEDED, `${what}: still not done after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export function registerHealingCommands(program: Command): void {
  withClientFlags(
    program
      .command('fsck')
      .description('chunk health under PATH: under-replicated, missing and corrupt chunks with their files; exit 1 when a chunk is missing')
      .argument('[path]', 'remote path', '/')
      .option('--json', 'JSON output')
      .option('--max-problems <n>', 'problem chunks listed (counts always cover everything)', '1000'),
  ).action(async (path: string, flags: ClientFlags & { json?: boolean; maxProblems?: string }) => {
    const maxProblems = Number(flags.maxProblems);
    if (!Number.isSafeInteger(maxProblems) || maxProblems < 0) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--max-problems: not a non-negative integer: ${flags.maxProblems}`);
    const r = await clientFrom(flags).fsck(path, { maxProblems: maxProblems || 1000, requestId: flags.requestId });
    if (flags.json) process.stdout.write(JSON.stringify(fsckJson(path, r), null, 2) + '\n');
    else printFsck(path, r);
    if (r.missing > 0) process.exitCode = EXIT.ERROR;
  });

  const admin = program.commands.find((c) => c.name() === 'admin') ?? program.command('admin').description('cluster administration');

  withClientFlags(
    admin
      .command('decommission')
      .description('drain a chunkserver: its chunks are copied away first, then it is safe to stop')
      .argument('<id>', 'chunkserver id')
      .option('--cancel', 'put it back in service')
      .option('--wait', 'wait until it is drained (decommissioned)')
      .option('--timeout <duration>', 'how long --wait waits', '1h')
      .option('--json', 'JSON output'),
  ).action(async (id: string, flags: ClientFlags & { cancel?: boolean; wait?: boolean; timeout?: string; json?: boolean }) => {
    const client = clientFrom(flags, 'admin');
    const call = (cancel: boolean): Promise<{ state: string; chunksToDrain: number; chunksHeld: number }> =>
      client.masters.call((c) => c.decommission, { chunkserverId: id, cancel }, { requestId: flags.requestId });
    let r = await call(flags.cancel === true);
    if (flags.wait && !flags.cancel) {
      r = await waitUntil(
        `decommission of ${id}`,
        parseDuration(flags.timeout!),
        () => call(false),
        (v) => v.state === 'decommissioned',
        (v) => !flags.json && process.stderr.write(`${id}: ${v.state}, ${v.chunksToDrain} of ${v.chunksHeld} chunks left to drain\n`),
      );
    }
    if (flags.json) process.stdout.write(JSON.stringify({ id, ...r }, null, 2) + '\n');
    else process.stdout.write(`${id}: ${r.state}${r.state === 'decommissioned' ? ' (safe to stop)' : ''}, ${r.chunksToDrain} of ${r.chunksHeld} chunks left to drain\n`);
  });

  withClientFlags(
    admin
      .command('balance')
      .description('even out chunkserver disk usage to within a threshold of the mean (moves replicas, throttled)')
      .option('--threshold <points>', 'allowed deviation from the mean utilisation, in percentage points', '10')
      .option('--stop', 'stop a running balancer')
      .option('--status', 'report only')
      .option('--wait', 'wait until balanced (or the balancer gives up)')
      .option('--timeout <duration>', 'how long --wait waits', '1h')
      .option('--json', 'JSON output'),
  ).action(async (flags: ClientFlags & { threshold?: string; stop?: boolean; status?: boolean; wait?: boolean; timeout?: string; json?: boolean }) => {
    const threshold = Number(flags.threshold);
    if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--threshold: 0..100, got ${flags.threshold}`);
    const client = clientFrom(flags, 'admin');
    const call = (req: { threshold: number; stop: boolean; statusOnly: boolean }) => client.masters.call((c) => c.balance, req, { requestId: flags.requestId });
    let r = await call({ threshold, stop: flags.stop === true, statusOnly: flags.status === true });
    if (flags.wait && !flags.stop && !flags.status) {
      r = await waitUntil(
        'balance',
        parseDuration(flags.timeout!),
        () => call({ threshold, stop: false, statusOnly: true }),
        (v) => !v.active,
        (v) => !flags.json && process.stderr.write(`balancing: max deviation ${v.maxDeviation.toFixed(1)} points, ${v.movesInflight} moves in flight, ${v.movesDone} done\n`),
      );
    }
    if (flags.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else {
      process.stdout.write(
        `balancer ${r.active ? 'running' : 'idle'}: mean utilisation ${r.averageUtilization.toFixed(1)}%, max deviation ${r.maxDeviation.toFixed(1)} points ` +
          `(threshold ${r.threshold}), ${r.balanced ? 'balanced' : 'not balanced'}; moves: ${r.movesInflight} in flight, ${r.movesDone} done${r.note ? `; ${r.note}` : ''}\n`,
      );
    }
  });
}
