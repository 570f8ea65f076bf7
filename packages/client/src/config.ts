import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DfsError, ErrorCode } from '@dfs/proto';
import { INSECURE, tlsFrom, type Security } from '@dfs/security';

export interface ResolvedMasters {
  masters: string[];
  /** Where the list came from, for error messages. */
  source: string;
}

function splitList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new DfsError(ErrorCode.INVALID_ARGUMENT, `cannot read ${path}: ${(err as Error).message}`);
  }
}

function mastersFromClusterJson(path: string): string[] {
  const parsed = readJson(path) as { masters?: Array<{ address?: unknown }> };
  return (parsed.masters ?? []).map((m) => m.address).filter((a): a is string => typeof a === 'string');
}

/** The nearest `.dfs-data/cluster.json` from `start` upwards (what `make run` writes). */
function findLocalClusterJson(start: string): string | undefined {
  let dir = resolve(start);
  for (;;) {
    const candidate = join(dir, '.dfs-data', 'cluster.json');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * Where the masters are, in order of precedence: the explicit value (`--masters`),
 * `DFS_MASTERS`, `~/.config/dfs/config.json` ({"masters": [...]}), then the local
 * cluster's `.dfs-data/cluster.json`, so a user who ran `make run` needs no flags.
 */
export function resolveMasters(explicit?: string | string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ResolvedMasters {
  if (explicit && explicit.length > 0) {
    return { masters: Array.isArray(explicit) ? explicit : splitList(explicit), source: '--masters' };
  }
  if (env.DFS_MASTERS) return { masters: splitList(env.DFS_MASTERS), source: 'DFS_MASTERS' };
  const configPath = join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'dfs', 'config.json');
  if (existsSync(configPath)) {
    const parsed = readJson(configPath) as { masters?: unknown };
    const list = Array.isArray(parsed.masters) ? parsed.masters.filter((m): m is string => typeof m === 'string') : typeof parsed.masters === 'string' ? splitList(parsed.masters) : [];
    if (list.length > 0) return { masters: list, source: configPath };
  }
  const clusterJson = findLocalClusterJson(cwd);
  if (clusterJson) {
    const list = mastersFromClusterJson(clusterJson);
    if (list.length > 0) return { masters: list, source: clusterJson };
  }
  throw new DfsError(
    ErrorCode.INVALID_ARGUMENT,
    'no masters configured: pass --masters HOST:PORT,..., set DFS_MASTERS, or start a local cluster with `make run`',
  );
}

export interface SecurityFlags {
  /** A credentials directory (ca.crt, tls.crt, tls.key): `--tls-dir`. */
  tlsDir?: string;
  /** Plaintext, for an --insecure cluster: `--insecure`. */
  insecure?: boolean;
  /** Which of the local cluster's certificates to use: the user's (default) or the admin's. */
  role?: 'client' | 'admin';
}

export interface ResolvedSecurity {
  security: Security;
  /** Where it came from, for messages. */
  source: string;
}

/** What `dfs cluster up` records in cluster.json about its certificates. */
export interface ClusterTls {
  ca: string;
  client: string;
  admin: string;
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes)$/i.test(v);
}

/**
 * How to talk to the cluster, found the way the masters are: `--insecure` / `--tls-dir`,
 * then DFS_INSECURE / DFS_TLS_DIR (admin commands: DFS_ADMIN_TLS_DIR first), then
 * `~/.config/dfs/config.json` ({"tlsDir": …, "adminTlsDir": …} or {"insecure": true}), then the local cluster's `.dfs-data/cluster.json` (its client or
 * admin credentials, or its insecure mark). Nothing found is an error: never a silent plaintext.
 */
export function resolveSecurity(flags: SecurityFlags = {}, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ResolvedSecurity {
  if (flags.insecure) return { security: INSECURE, source: '--insecure' };
  if (flags.tlsDir) return { security: tlsFrom(flags.tlsDir), source: '--tls-dir' };
  const admin = flags.role === 'admin';
  if (isTrue(env.DFS_INSECURE)) return { security: INSECURE, source: 'DFS_INSECURE' };
  if (admin && env.DFS_ADMIN_TLS_DIR) return { security: tlsFrom(env.DFS_ADMIN_TLS_DIR), source: 'DFS_ADMIN_TLS_DIR' };
  if (env.DFS_TLS_DIR) return { security: tlsFrom(env.DFS_TLS_DIR), source: 'DFS_TLS_DIR' };
  const configPath = join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'dfs', 'config.json');
  if (existsSync(configPath)) {
    const parsed = readJson(configPath) as { tlsDir?: unknown; adminTlsDir?: unknown; insecure?: unknown };
    if (parsed.insecure === true) return { security: INSECURE, source: configPath };
    if (admin && typeof parsed.adminTlsDir === 'string') return { security: tlsFrom(parsed.adminTlsDir), source: configPath };
    if (typeof parsed.tlsDir === 'string') return { security: tlsFrom(parsed.tlsDir), source: configPath };
  }
  const clusterJson = findLocalClusterJson(cwd);
  if (clusterJson) {
    const parsed = readJson(clusterJson) as { insecure?: unknown; tls?: Partial<ClusterTls> };
    if (parsed.insecure === true) return { security: INSECURE, source: clusterJson };
    const dir = parsed.tls?.[flags.role ?? 'client'];
    if (typeof dir === 'string') return { security: tlsFrom(dir), source: clusterJson };
  }
  throw new DfsError(
    ErrorCode.INVALID_ARGUMENT,
    'no TLS credentials: pass --tls-dir DIR (ca.crt, tls.crt, tls.key), set DFS_TLS_DIR, start a local cluster with `make run`, or use --insecure for a plaintext cluster',
  );
}

/**
 * The cluster CA directory for `dfs admin cert issue` without --ca: DFS_CA_DIR, the config
 * file's "caDir", then the local cluster's cluster.json (the CA `dfs cluster up` made).
 */
export function resolveCaDir(explicit?: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (explicit) return explicit;
  if (env.DFS_CA_DIR) return env.DFS_CA_DIR;
  const configPath = join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'dfs', 'config.json');
  if (existsSync(configPath)) {
    const parsed = readJson(configPath) as { caDir?: unknown };
    if (typeof parsed.caDir === 'string') return parsed.caDir;
  }
  const clusterJson = findLocalClusterJson(cwd);
  if (clusterJson) {
    const ca = (readJson(clusterJson) as { tls?: Partial<ClusterTls> }).tls?.ca;
    if (typeof ca === 'string') return ca;
  }
  throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'no CA: pass --ca DIR, set DFS_CA_DIR, or start a local cluster with `make run` (it makes .dfs-data/ca)');
}
