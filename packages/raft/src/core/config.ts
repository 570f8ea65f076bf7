import type { ConfChange, ConfState, Member } from './types.js';

/*
 * Membership, one server at a time (thesis section 4.1, etcd's single-change mode).
 * A change takes effect when it is applied; the leader proposes no new change until
 * the previous one is applied, and none before it has applied an entry of its own term.
 */

export function voters(conf: ConfState): string[] {
  return conf.filter((m) => m.voter).map((m) => m.id);
}

export function learners(conf: ConfState): string[] {
  return conf.filter((m) => !m.voter).map((m) => m.id);
}

export function isVoter(conf: ConfState, id: string): boolean {
  return conf.some((m) => m.id === id && m.voter);
}

export function member(conf: ConfState, id: string): Member | undefined {
  return conf.find((m) => m.id === id);
}

/** Why `cc` cannot apply to `conf`, or undefined when it can. */
export function validateConfChange(conf: ConfState, cc: ConfChange): string | undefined {
  const m = member(conf, cc.id);
  switch (cc.type) {
    case 'add-learner':
      if (m) return `${cc.id} is already a member`;
      if (!cc.address) return 'add-learner needs an address';
      return undefined;
    case 'promote':
      if (!m) return `${cc.id} is not a member`;
      if (m.voter) return `${cc.id} is already a voter`;
      return undefined;
    case 'remove':
      if (!m) return `${cc.id} is not a member`;
      if (m.voter && voters(conf).length === 1) return 'cannot remove the last voter';
      return undefined;
  }
}

/** The configuration after `cc`; an invalid change (possible only on replay) leaves it unchanged. */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  if (validateConfChange(conf, cc) !== undefined) return conf;
  let next: Member[];
  switch (cc.type) {
    case 'add-learner':
      next = [...conf, { id: cc.id, address: cc.address ?? '', voter: false }];
      break;
    case 'promote':
      next = conf.map((m) => (m.id === cc.id ? { ...m, voter: true } : m));
      break;
    case 'remove':
      next = conf.filter((m) => m.id !== cc.id);
      break;
  }
  return next.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
