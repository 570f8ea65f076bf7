import { DfsError } from './errors.js';
import { ErrorCode } from './gen/dfs/v1/common.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses '2s', '500ms', '1m', '1.5h', '30d' (a bare number is milliseconds) into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `invalid duration: ${JSON.stringify(text)} (use e.g. 2s, 500ms)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 'ms']!);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4,
};

/** Parses a size in bytes: '1048576', '64MiB', '4k' (binary units). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `invalid size: ${JSON.stringify(text)} (use bytes, or e.g. 64MiB)`);
  return Math.round(Number(m[1]) * unit);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}
