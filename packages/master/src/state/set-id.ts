/*
 * Set-user-id and set-group-id bits, cleared the way Linux clears them when a file is
 * written or changes owner by anyone without CAP_FSETID (should_remove_suid): S_ISUID
 * always; S_ISGID only with group-execute (without it the bit means mandatory locking).
 */

export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;
export const SET_ID_BITS = S_ISUID | S_ISGID;
const S_IXGRP = 0o010;

/** `mode` with the set-id bits a write or a chown removes. */
export function killSetId(mode: number): number {
  let out = mode & ~S_ISUID;
  if (mode & S_IXGRP) out &= ~S_ISGID;
  return out;
}
