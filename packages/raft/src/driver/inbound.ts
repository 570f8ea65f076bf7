import { MAX_LIST_ITEMS, isNodeId } from '@dfs/proto';
import { EntryType, MessageType, decodeConfChange, type Message } from '../core/types.js';

/*
 * The gate in front of the Raft core: a message from the network reaches `step` only if it is
 * well formed, addressed to us, and sent by a current member under its own id. Everything else
 * is refused with a reason (counted in /metrics) and never touches the core, so no message a
 * stranger crafts can raise the term, force an election or throw inside the loop.
 *
 * The sender's identity comes from the caller: over mutual TLS it is the id in the peer's
 * certificate; `undefined` when the transport cannot tell (plaintext --insecure), in which case
 * only the message's own `from` is checked against the membership.
 */

export type Rejection = 'malformed' | 'wrong-recipient' | 'stranger' | 'impostor' | 'unsolicited-timeout-now' | 'step-failed' | 'oversized-snapshot';

export const REJECTIONS: readonly Rejection[] = ['malformed', 'wrong-recipient', 'stranger', 'impostor', 'unsolicited-timeout-now', 'step-failed', 'oversized-snapshot'];

export interface InboundContext {
  readonly selfId: string;
  isMember(id: string): boolean;
  /** Current term and leader, for TimeoutNow: only our leader may tell us to campaign at once. */
  readonly term: number;
  readonly leader: string;
}

export interface Refusal {
  readonly reason: Rejection;
  readonly detail: string;
}

const uint = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Why `m` must not be stepped, or undefined if it may. */
export function checkInbound(m: Message, ctx: InboundContext, authenticatedPeer?: string): Refusal | undefined {
  const bad = malformed(m);
  if (bad) return { reason: 'malformed', detail: bad };
  if (m.to !== ctx.selfId) return { reason: 'wrong-recipient', detail: `message for ${m.to}` };
  if (authenticatedPeer !== undefined && authenticatedPeer !== m.from) return { reason: 'impostor', detail: `message from ${m.from} sent by ${authenticatedPeer}` };
  if (!ctx.isMember(m.from)) return { reason: 'stranger', detail: `message from ${m.from}, not a member` };
  if (m.type === MessageType.TimeoutNow && (m.from !== ctx.leader || m.term !== ctx.term)) {
    return { reason: 'unsolicited-timeout-now', detail: `TimeoutNow from ${m.from}, who does not lead term ${ctx.term}` };
  }
  return undefined;
}

function malformed(m: Message): string | undefined {
  if (!(m.type >= MessageType.Append && m.type <= MessageType.TimeoutNow) || !Number.isInteger(m.type)) return `unknown message type ${String(m.type)}`;
  if (!isNodeId(m.from) || !isNodeId(m.to)) return 'bad from/to id';
  for (const [k, v] of [['term', m.term], ['logTerm', m.logTerm], ['index', m.index], ['commit', m.commit], ['rejectHint', m.rejectHint], ['context', m.context]] as const) {
    if (!uint(v)) return `bad ${k} ${String(v)}`;
  }
  if (m.entries.length > MAX_LIST_ITEMS) return `${m.entries.length} entries in one message`;
  if (m.entries.length > 0 && m.type !== MessageType.Append) return 'entries on a message that carries none';
  for (let i = 0; i < m.entries.length; i++) {
    const e = m.entries[i]!;
    if (e.index !== m.index + 1 + i) return `entry ${i} has index ${e.index}, want ${m.index + 1 + i}`;
    if (!uint(e.term) || e.term > m.term || e.term < m.logTerm) return `entry ${e.index} has term ${e.term} outside ${m.logTerm}..${m.term}`;
    if (i > 0 && e.term < m.entries[i - 1]!.term) return `entry ${e.index} has a lower term than the one before it`;
    if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) return `entry ${e.index} has unknown type ${e.type}`;
    if (e.type === EntryType.ConfChange) {
      try {
        const cc = decodeConfChange(e.data);
        if (!isNodeId(cc.id)) return `entry ${e.index}: conf change names a bad id`;
      } catch {
        return `entry ${e.index}: undecodable conf change`;
      }
    }
  }
  if (m.type === MessageType.Snapshot) {
    const s = m.snapshot;
    if (!s) return 'snapshot message without metadata';
    if (!uint(s.index) || !uint(s.term) || s.index === 0 || s.term > m.term) return `bad snapshot ${s.term}/${s.index}`;
    if (s.conf.length === 0 || s.conf.length > 64 || s.conf.some((x) => !isNodeId(x.id))) return 'bad snapshot membership';
  }
  return undefined;
}
