import type { FuseStatfs } from 'fuse-native';
import type { NodeCapacity } from './backend.js';
import { NAME_MAX } from './paths.js';

/** statvfs fields as fuse-native takes them (each a uint32); declared once, in native/fuse-native.d.ts. */
export type Statfs = FuseStatfs;

const UINT32_MAX = 0xffff_ffff;
const FILES = 1_000_000_000;

/**
 * Raw cluster capacity (the sum over live chunkservers, before replication, as HDFS
 * and MooseFS report it) in blocks that fit statvfs' 32-bit fields.
 */
export function statfsFromNodes(nodes: NodeCapacity[]): Statfs {
  const live = nodes.filter((n) => n.state === undefined || n.state === '' || n.state === 'live');
  const capacity = live.reduce((sum, n) => sum + Math.max(0, n.capacityBytes), 0);
  const free = live.reduce((sum, n) => sum + Math.max(0, n.freeBytes), 0);
  let frsize = 4096;
  while (capacity / frsize > UINT32_MAX) frsize *= 2;
  const blocks = Math.floor(capacity / frsize);
  const bfree = Math.min(blocks, Math.floor(free / frsize));
  return { bsize: frsize, frsize, blocks, bfree, bavail: bfree, files: FILES, ffree: FILES, favail: FILES, fsid: 0, flag: 0, namemax: NAME_MAX };
}
