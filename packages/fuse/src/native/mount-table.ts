import { readFileSync } from 'node:fs';

/** Undoes the octal escapes of /proc/self/mountinfo (\040 for a space, ...). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export interface MountEntry {
  mountpoint: string;
  fstype: string;
  source: string;
}

export function readMountTable(path = '/proc/self/mountinfo'): MountEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    const fields = left?.split(' ') ?? [];
    const tail = right?.split(' ') ?? [];
    if (fields.length < 5 || tail.length < 2) continue;
    entries.push({ mountpoint: unescape(fields[4]!), fstype: tail[0]!, source: unescape(tail[1]!) });
  }
  return entries;
}

/** True when a FUSE file system is mounted exactly at `mountpoint` (an absolute, resolved path). */
export function isFuseMounted(mountpoint: string): boolean {
  return readMountTable().some((e) => e.mountpoint === mountpoint && e.fstype.startsWith('fuse'));
}
