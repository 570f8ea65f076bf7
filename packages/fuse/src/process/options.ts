import { parseDuration, parseSize } from '@dfs/proto';

export const USAGE = `usage: dfs-mount [options] [REMOTE_DIR] MOUNTPOINT
       dfs-mount --umount MOUNTPOINT

Mounts dfs (REMOTE_DIR, default /) at MOUNTPOINT through FUSE. Runs in the foreground
until SIGINT/SIGTERM or \`dfs-mount --umount MOUNTPOINT\`, or in the background with --daemon.

options:
  --masters H:P,...   master addresses (default: DFS_MASTERS, ~/.config/dfs/config.json, .dfs-data/cluster.json)
  --tls-dir DIR       credentials: ca.crt, tls.crt, tls.key (default: DFS_TLS_DIR, config file, .dfs-data/cluster.json)
  --insecure          plaintext gRPC, for a cluster started with --insecure (logs a warning)
  --token JWT         act as this token's user (default: DFS_TOKEN, "token" in ~/.config/dfs/config.json;
                      none = the identity of the certificate)
  --daemon            mount, then return once the mount is ready (the server runs in the background)
  --log FILE          where a daemon writes its log (default: <spool dir>.log)
  --spool-dir DIR     local directory for files being written (default: $TMPDIR/dfs-mount-<pid>)
  --cache-size SIZE   bound of the read block cache (default 128MiB)
  --readahead SIZE    largest readahead window (default 32MiB)
  --attr-ttl DUR      how long this process reuses the master's attributes and listings (default 1s)
  --attr-timeout DUR  how long the kernel caches attributes without asking (default 1s)
  --entry-timeout DUR how long the kernel caches names without asking (default 1s)
  --negative-timeout DUR  how long the kernel caches "no such file" (default 1s)
                      Another client's change shows within --attr-ttl plus the largest kernel
                      timeout (2s by default); this mount's own changes show at once. All 0:
                      the kernel asks every time (strict POSIX for hard links; slower).
  --timeout DUR       per-RPC deadline against one master (default 5s)
  --retry-window DUR  how long a call keeps retrying an unreachable cluster before EIO (default 15s)
  --no-write-behind   upload a new file only at close (default: a file written sequentially is
                      uploaded chunk by chunk while it is written; --write-behind is accepted)
  --grace DUR         at unmount, how long descriptors still open may finish (default 30s)
  --allow-other       let other users use the mount (needs user_allow_other for non-root)
  --debug             libfuse debug output
  -u, --umount        unmount MOUNTPOINT (asks its dfs-mount process to stop)
  -h, --help          this text`;

export interface MountArgs {
  kind: 'mount';
  mountpoint: string;
  remoteDir: string;
  masters?: string;
  token?: string;
  tlsDir?: string;
  insecure: boolean;
  daemon: boolean;
  logFile?: string;
  spoolDir?: string;
  cacheBytes?: number;
  readaheadMax?: number;
  attrTtlMs?: number;
  attrTimeoutMs?: number;
  entryTimeoutMs?: number;
  negativeTimeoutMs?: number;
  callTimeoutMs?: number;
  retryWindowMs?: number;
  graceMs?: number;
  allowOther: boolean;
  debug: boolean;
  writeBehind: boolean;
}

const MAX_KERNEL_TIMEOUT_MS = 3_600_000;

export type ParsedArgs = MountArgs | { kind: 'umount'; mountpoint: string } | { kind: 'help' };

export class UsageError extends Error {
  override name = 'UsageError';
}

const VALUE_FLAGS = new Set(['--masters', '--tls-dir', '--token', '--log', '--spool-dir', '--cache-size', '--readahead', '--attr-ttl', '--attr-timeout', '--entry-timeout', '--negative-timeout', '--timeout', '--retry-window', '--grace']);

/** Parses dfs-mount's arguments; flags may come before or after the positionals. */
export function parseArgs(argv: string[]): ParsedArgs {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('-') && arg !== '-') {
      const eq = arg.indexOf('=');
      const flag = eq > 0 ? arg.slice(0, eq) : arg;
      if (VALUE_FLAGS.has(flag)) {
        const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`${flag} needs a value`);
        values.set(flag, value);
      } else if (['--insecure', '--daemon', '--foreground', '-f', '--allow-other', '--debug', '--write-behind', '--no-write-behind', '-u', '--umount', '-h', '--help'].includes(flag)) {
        switches.add(flag);
      } else {
        throw new UsageError(`unknown option ${arg}`);
      }
      continue;
    }
    positionals.push(arg);
  }
  if (switches.has('-h') || switches.has('--help')) return { kind: 'help' };
  if (switches.has('-u') || switches.has('--umount')) {
    if (positionals.length !== 1) throw new UsageError('--umount takes exactly one MOUNTPOINT');
    return { kind: 'umount', mountpoint: positionals[0]! };
  }
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('expected [REMOTE_DIR] MOUNTPOINT');
  const mountpoint = positionals[positionals.length - 1]!;
  const remoteDir = positionals.length === 2 ? positionals[0]! : '/';
  if (!remoteDir.startsWith('/')) throw new UsageError(`REMOTE_DIR must be absolute: ${remoteDir}`);
  const size = (flag: string): number | undefined => (values.has(flag) ? parseSize(values.get(flag)!) : undefined);
  const duration = (flag: string): number | undefined => (values.has(flag) ? parseDuration(values.get(flag)!) : undefined);
  const kernelTimeout = (flag: string): number | undefined => {
    const ms = duration(flag);
    // The bound on other clients' changes; an hour is already far past any sane use.
    if (ms !== undefined && ms > MAX_KERNEL_TIMEOUT_MS) throw new UsageError(`${flag} is at most 1h`);
    return ms;
  };
  return {
    kind: 'mount',
    mountpoint,
    remoteDir,
    masters: values.get('--masters'),
    token: values.get('--token'),
    tlsDir: values.get('--tls-dir'),
    insecure: switches.has('--insecure'),
    daemon: switches.has('--daemon'),
    logFile: values.get('--log'),
    spoolDir: values.get('--spool-dir'),
    cacheBytes: size('--cache-size'),
    readaheadMax: size('--readahead'),
    attrTtlMs: duration('--attr-ttl'),
    attrTimeoutMs: kernelTimeout('--attr-timeout'),
    entryTimeoutMs: kernelTimeout('--entry-timeout'),
    negativeTimeoutMs: kernelTimeout('--negative-timeout'),
    callTimeoutMs: duration('--timeout'),
    retryWindowMs: duration('--retry-window'),
    graceMs: duration('--grace'),
    allowOther: switches.has('--allow-other'),
    debug: switches.has('--debug'),
    writeBehind: !switches.has('--no-write-behind'),
  };
}
