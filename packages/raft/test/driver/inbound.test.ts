import { strict as assert } from 'node:assert';
import { EntryType, MessageType, type Message } from '../../src/index.js';
import { encodeConfChange, message } from '../../src/core/types.js';
import { checkInbound, type InboundContext } from '../../src/driver/inbound.js';

/* The gate in front of the core: what a stranger or bad bytes can send never reaches step(). */
describe('inbound gate', () => {
  const ctx: InboundContext = { selfId: 'm2', isMember: (id) => ['m1', 'm2', 'm3'].includes(id), term: 5, leader: 'm1' };
  const ok = message({ type: MessageType.Append, from: 'm1', to: 'm2', term: 5, index: 9, logTerm: 4, commit: 9, entries: [{ term: 5, index: 10, type: EntryType.Normal, data: new Uint8Array([1]) }] });
  const reason = (m: Partial<Message>, peer?: string): string | undefined => checkInbound({ ...ok, ...m } as Message, ctx, peer)?.reason;

  it('admits a well-formed append from a member', () => {
    assert.equal(reason({}), undefined);
    assert.equal(reason({}, 'm1'), undefined);
    assert.equal(reason({ type: MessageType.TimeoutNow, entries: [] }), undefined);
  });

  const cases: Array<[string, Partial<Message>, string, string?]> = [
    ['a non-member raising the term to 2^40', { from: 'mx', term: 2 ** 40, entries: [] }, 'stranger'],
    ['a message for another node', { to: 'm3' }, 'wrong-recipient'],
    ['a member id sent by another certificate', {}, 'impostor', 'm3'],
    ['TimeoutNow from a follower', { type: MessageType.TimeoutNow, from: 'm3', entries: [] }, 'unsolicited-timeout-now'],
    ['TimeoutNow from an old term', { type: MessageType.TimeoutNow, term: 4, entries: [] }, 'unsolicited-timeout-now'],
    ['an unknown message type', { type: 99 as MessageType }, 'malformed'],
    ['a negative term', { term: -1 }, 'malformed'],
    ['a term past 2^53', { term: 2 ** 60 }, 'malformed'],
    ['a from id with a slash', { from: '../m1' }, 'malformed'],
    ['an empty from', { from: '' }, 'malformed'],
    ['entries that skip an index', { entries: [{ term: 5, index: 12, type: EntryType.Normal, data: new Uint8Array() }] }, 'malformed'],
    ['an entry from a future term', { entries: [{ term: 6, index: 10, type: EntryType.Normal, data: new Uint8Array() }] }, 'malformed'],
    ['an entry of an unknown type', { entries: [{ term: 5, index: 10, type: 7 as EntryType, data: new Uint8Array() }] }, 'malformed'],
    ['an undecodable conf change', { entries: [{ term: 5, index: 10, type: EntryType.ConfChange, data: new Uint8Array([0x7b]) }] }, 'malformed'],
    ['a conf change naming a bad id', { entries: [{ term: 5, index: 10, type: EntryType.ConfChange, data: encodeConfChange({ type: 'remove', id: 'a b' }) }] }, 'malformed'],
    ['entries on a heartbeat', { type: MessageType.Heartbeat }, 'malformed'],
    ['a snapshot message without metadata', { type: MessageType.Snapshot, entries: [] }, 'malformed'],
    ['a snapshot from a future term', { type: MessageType.Snapshot, entries: [], snapshot: { index: 3, term: 9, conf: [{ id: 'm1', address: 'a:1', voter: true }] } }, 'malformed'],
    ['a snapshot with no members', { type: MessageType.Snapshot, entries: [], snapshot: { index: 3, term: 2, conf: [] } }, 'malformed'],
  ];
  for (const [what, m, want, peer] of cases) {
    it(`refuses ${what} (${want})`, () => assert.equal(reason(m, peer), want));
  }
});
