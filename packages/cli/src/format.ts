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

/** The first letter `ls -l` prints for each type, and the name `--json` gives it. */
const TYPES: Partial<Record<FileType, [string, string]>> = {
  [FileType.FILE]: ['-', 'file'],
  [FileType.DIRECTORY]: ['d', 'directory'],
  [FileType.SYMLINK]: ['l', 'symlink'],
  [FileType.FIFO]: ['p', 'fifo'],
  [FileType.SOCKET]: ['s', 'socket'],
  [FileType.CHAR_DEVICE]: ['c', 'char-device'],
  [FileType.BLOCK_DEVICE]: ['b', 'block-device'],
};

export function modeString(entry: FileStatus): string {
  const kinds = 'rwxrwxrwx';
  let out = TYPES[entry.type]?.[0] ?? '-';
  for (let i = 0; i < 9; i++) out += entry.mode & (1 << (8 - i)) ? kinds[i] : '-';
  const mark = (at: number, bit: number, set: string): void => {
    if (entry.mode & bit) out = out.slice(0, at) + (out[at] === '-' ? set.toUpperCase() : set) + out.slice(at + 1);
  };
  mark(3, 0o4000, 's'); // set-user-id
  mark(6, 0o2000, 's'); // set-group-id
  mark(9, 0o1000, 't'); // sticky
  return out;
}

/** What `ls -l` prints after a name: the target of a symlink. */
export function linkSuffix(entry: FileStatus): string {
  return entry.type === FileType.SYMLINK ? ` -> ${entry.symlinkTarget}` : '';
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** The JSON shape of one entry for `--json` output. */
export function statusJson(entry: FileStatus): Record<string, unknown> {
  return {
    path: entry.path,
    name: entry.name,
    type: TYPES[entry.type]?.[1] ?? 'file',
    ...(entry.type === FileType.SYMLINK ? { target: entry.symlinkTarget } : {}),
    ...(entry.type === FileType.CHAR_DEVICE || entry.type === FileType.BLOCK_DEVICE ? { rdev: entry.rdev } : {}),
    size: entry.size,
    mode: '0' + (entry.mode & 0o7777).toString(8),
    mtime: new Date(entry.mtimeMs).toISOString(),
    atime: new Date(entry.atimeMs).toISOString(),
    ctime: new Date(entry.ctimeMs).toISOString(),
    inode: entry.inode,
    nlink: entry.nlink,
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
