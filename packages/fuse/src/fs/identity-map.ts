import { readFileSync } from 'node:fs';
import type { Owner } from './attrs.js';

/** uid 65534: what a name with no local account shows as (as NFS maps unknown owners). */
export const NOBODY = 65534;

function parseDb(text: string): Array<{ name: string; id: number }> {
  const out: Array<{ name: string; id: number }> = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const id = Number(f[2]);
    if (f[0] && Number.isInteger(id)) out.push({ name: f[0], id });
  }
  return out;
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * dfs owners are names; the kernel wants numbers. The mount maps them through the local
 * account database (/etc/passwd, /etc/group), read once at mount time. The cluster
 * identity the mount acts as (its token's user, or the superuser) shows as the mounting
 * user, so a mount without tokens looks as it always did: everything is yours.
 */
export class IdentityMap {
  private readonly uidByName = new Map<string, number>();
  private readonly gidByName = new Map<string, number>();
  private readonly nameByUid = new Map<number, string>();
  private readonly nameByGid = new Map<number, string>();

  constructor(
    /** The cluster user the mount acts as, and the local ids it shows as. */
    private readonly self: { user: string; groups: string[] } | undefined,
    private readonly mounter: Owner,
    passwd = readOrEmpty('/etc/passwd'),
    group = readOrEmpty('/etc/group'),
  ) {
    for (const { name, id } of parseDb(passwd)) {
      if (!this.uidByName.has(name)) this.uidByName.set(name, id);
      if (!this.nameByUid.has(id)) this.nameByUid.set(id, name);
    }
    for (const { name, id } of parseDb(group)) {
      if (!this.gidByName.has(name)) this.gidByName.set(name, id);
      if (!this.nameByGid.has(id)) this.nameByGid.set(id, name);
    }
  }

  /** Local ids for a dfs owner and group. */
  ownerOf(owner: string, group: string): Owner {
    const uid = owner === this.self?.user ? this.mounter.uid : this.uidByName.get(owner) ?? NOBODY;
    // A group with no local name shows as the mounter's group for the mount's own files
    // (e.g. the superuser's `supergroup`), as nobody's for anyone else's.
    const mine = owner === this.self?.user || this.self?.groups.includes(group) === true;
    const gid = this.gidByName.get(group) ?? (mine ? this.mounter.gid : NOBODY);
    return { uid, gid };
  }

  /** dfs names for the ids chown(2) hands over; undefined for an id with no name here. */
  userOf(uid: number): string | undefined {
    if (uid === this.mounter.uid && this.self) return this.self.user;
    return this.nameByUid.get(uid);
  }

  groupOf(gid: number): string | undefined {
    if (gid === this.mounter.gid && this.self?.groups[0] && !this.nameByGid.has(gid)) return this.self.groups[0];
    return this.nameByGid.get(gid);
  }
}
