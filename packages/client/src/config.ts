import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DfsError, ErrorCode } from '@dfs/proto';

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

function configPathOf(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'dfs', 'config.json');
}

/**
 * The bearer token to present, in order: `--token`, `DFS_TOKEN`, then `"token"` in
 * `~/.config/dfs/config.json`. Undefined = none (the cluster decides who we are).
 */
export function resolveToken(explicit?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (explicit) return explicit.trim();
  if (env.DFS_TOKEN) return env.DFS_TOKEN.trim();
  const configPath = configPathOf(env);
  if (!existsSync(configPath)) return undefined;
  const parsed = readJson(configPath) as { token?: unknown };
  return typeof parsed.token === 'string' && parsed.token ? parsed.token.trim() : undefined;
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
  const configPath = configPathOf(env);
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
