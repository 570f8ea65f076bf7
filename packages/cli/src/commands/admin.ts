import type { Command } from 'commander';
import { parseMember, type ClusterStatusResponse } from '@dfs/proto';
import { clientFrom, type ClientFlags } from '../context.js';
import { humanSize } from '../format.js';
import { registerBackupCommands } from './backup.js';
import { withClientFlags } from './shared.js';

function reportJson(s: ClusterStatusResponse): Record<string, unknown> {
  return {
    leader: s.leaderId ? { id: s.leaderId, address: s.leaderAddress } : null,
    safeMode: s.safeMode,
    masters: s.masters,
    chunkservers: s.chunkservers.map((c) => ({ ...c, lastHeartbeat: c.lastHeartbeatMs ? new Date(c.lastHeartbeatMs).toISOString() : null })),
    chunks: { total: s.totalChunks, underReplicated: s.underReplicated, missing: s.missing, corrupt: s.corrupt },
    replicationQueue: s.replicationQueue,
    replication: { queue: s.replicationQueue, inflight: s.replicationInflight, pendingDeletes: s.pendingDeletes },
  };
}

function printReport(s: ClusterStatusResponse): void {
  const out: string[] = [];
  out.push(`Leader: ${s.leaderId || '(none)'} ${s.leaderAddress}${s.safeMode ? '   [SAFE MODE]' : ''}`);
  out.push('', 'Masters:');
  out.push(`  ${'ID'.padEnd(6)} ${'ADDRESS'.padEnd(21)} ${'ROLE'.padEnd(11)} ${'TERM'.padStart(6)} ${'COMMIT'.padStart(9)} ${'APPLIED'.padStart(9)}`);
  for (const m of s.masters) {
    out.push(`  ${m.id.padEnd(6)} ${m.address.padEnd(21)} ${m.role.padEnd(11)} ${String(m.term).padStart(6)} ${String(m.commitIndex).padStart(9)} ${String(m.appliedIndex).padStart(9)}`);
  }
  out.push('', 'Chunkservers:');
  out.push(`  ${'ID'.padEnd(6)} ${'ADDRESS'.padEnd(21)} ${'RACK'.padEnd(6)} ${'STATE'.padEnd(15)} ${'CAPACITY'.padStart(9)} ${'USED'.padStart(9)} ${'FREE'.padStart(9)} ${'CHUNKS'.padStart(7)} LAST HEARTBEAT`);
  for (const c of s.chunkservers) {
    const ago = c.lastHeartbeatMs ? `${((Date.now() - c.lastHeartbeatMs) / 1000).toFixed(1)}s ago` : '-';
    out.push(
      `  ${c.id.padEnd(6)} ${c.address.padEnd(21)} ${(c.rack || '-').padEnd(6)} ${c.state.padEnd(15)} ${humanSize(c.capacityBytes).padStart(9)} ${humanSize(c.usedBytes).padStart(9)} ${humanSize(c.freeBytes).padStart(9)} ${String(c.chunkCount).padStart(7)} ${ago}${c.note ? `  (${c.note})` : ''}`,
    );
  }
  out.push('', `Chunks: ${s.totalChunks} total, ${s.underReplicated} under-replicated, ${s.missing} missing, ${s.corrupt} corrupt; re-replication queue ${s.replicationQueue}, ${s.replicationInflight} copying, ${s.pendingDeletes} deletions pending`);
  process.stdout.write(out.join('\n') + '\n');
}

export function registerAdminCommands(program: Command): void {
  const admin = program.command('admin').description('cluster administration');
  registerBackupCommands(admin);
  withClientFlags(
    admin.command('report').description('masters, chunkservers, capacity and chunk health').option('--json', 'JSON output'),
  ).action(async (flags: ClientFlags & { json?: boolean }) => {
    const status = await clientFrom(flags, 'admin').clusterStatus();
    if (flags.json) process.stdout.write(JSON.stringify(reportJson(status), null, 2) + '\n');
    else printReport(status);
  });

  const masters = admin.command('masters').description('the Raft group of masters: list, add or remove one at a time');
  withClientFlags(masters.command('list').description('members, roles, term and indexes').option('--json', 'JSON output')).action(
    async (flags: ClientFlags & { json?: boolean }) => {
      const status = await clientFrom(flags, 'admin').clusterStatus();
      if (flags.json) {
        process.stdout.write(JSON.stringify(status.masters, null, 2) + '\n');
        return;
      }
      for (const m of status.masters) process.stdout.write(`${m.id}=${m.address} ${m.role} term=${m.term} commit=${m.commitIndex} applied=${m.appliedIndex}\n`);
    },
  );
  withClientFlags(
    masters
      .command('add')
      .description('add a master (start it first with `dfs master --join --peers <current members>`); waits until it votes')
      .argument('<member>', 'ID=HOST:PORT'),
  ).action(async (member: string, flags: ClientFlags) => {
    const { id, address } = parseMember(member);
    await clientFrom(flags, 'admin').addMaster(id, address, { requestId: flags.requestId });
    process.stdout.write(`added ${id}=${address}\n`);
  });
  withClientFlags(
    masters.command('remove').description('remove a master from the group (then stop its process)').argument('<member>', 'ID or ID=HOST:PORT'),
  ).action(async (member: string, flags: ClientFlags) => {
    const id = member.includes('=') ? parseMember(member).id : member;
    await clientFrom(flags, 'admin').removeMaster(id, { requestId: flags.requestId });
    process.stdout.write(`removed ${id}\n`);
  });
}

