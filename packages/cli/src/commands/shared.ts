import type { Command } from 'commander';
import { DfsError, ErrorCode } from '@dfs/proto';

/** Adds the flags every command that talks to the cluster accepts. */
export function withClientFlags(cmd: Command): Command {
  return cmd
    .option('--masters <list>', 'master addresses host:port,... (default: DFS_MASTERS, config file, .dfs-data/cluster.json)')
    .option('--read-policy <policy>', 'replica choice for reads: round-robin | random | least-loaded')
    .option('--request-id <id>', 'request id carried to every node the command touches (shows in their logs)')
    .option('--tls-dir <dir>', 'credentials directory: ca.crt, tls.crt, tls.key (default: DFS_TLS_DIR, config file, .dfs-data/cluster.json)')
    .option('--insecure', 'plaintext gRPC, for a cluster started with --insecure (logs a warning)');
}

export function parseIntFlag(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `--${name}: not a non-negative integer: ${value}`);
  return Number(value);
}
