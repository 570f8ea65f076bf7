import { FileType, type FileStatus } from '@dfs/proto';

const UNITS = ['B', 'K', 'M', 'G', 'T', 'P'];

/** 1536 → '1.5K' (binary units, as `ls -h`). */
export function humanSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes}` : `${value < 10 ? value.toFixed(1) : Math.round(value)}${UNITS[unit]}`;
}

export function modeString(entry: FileStatus): string {
  const kinds = 'rwxrwxrwx';
  let out = entry.type === FileType.DIRECTORY ? 'd' : '-';
  for (let i = 0; i < 9; i++) out += entry.mode & (1 << (8 - i)) ? kinds[i] : '-';
  if (entry.mode & 0o1000) out = out.slice(0, 9) + (entry.mode & 1 ? 't' : 'T'); // sticky
  return out;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** The JSON shape of one entry for `--json` output. */
export function statusJson(entry: FileStatus): Record<string, unknown> {
  return {
    path: entry.path,
    name: entry.name,
    type: entry.type === FileType.DIRECTORY ? 'directory' : 'file',
    size: entry.size,
    mode: '0' + (entry.mode & 0o7777).toString(8),
    mtime: new Date(entry.mtimeMs).toISOString(),
    atime: new Date(entry.atimeMs).toISOString(),
    owner: entry.owner,
    group: entry.group,
    replication: entry.replication,
    chunkSize: entry.chunkSize,
    chunks: entry.chunkCount,
    underConstruction: entry.underConstruction,
  };
}

export function rate(bytes: number, ms: number): string {
  return `${((bytes / 1e6) / Math.max(ms / 1000, 1e-3)).toFixed(1)} MB/s`;
}
