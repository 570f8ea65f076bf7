import { statfs } from 'node:fs/promises';

export interface CapacityReport {
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
}

/**
 * What the master uses for placement. Free space is what the file system has left minus a
 * reserve (so a nearly full disk reports 0 free and the master stops placing chunks here),
 * capped by the optional quota.
 */
export async function measureCapacity(dir: string, usedBytes: number, quota: number | undefined, reserveBytes: number): Promise<CapacityReport> {
  const s = await statfs(dir);
  const fsCapacity = s.blocks * s.bsize;
  const fsAvailable = Math.max(0, s.bavail * s.bsize - reserveBytes);
  if (quota !== undefined) {
    return { capacityBytes: quota, freeBytes: Math.max(0, Math.min(quota - usedBytes, fsAvailable)), usedBytes };
  }
  return { capacityBytes: fsCapacity, freeBytes: fsAvailable, usedBytes };
}
