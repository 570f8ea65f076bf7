import type { RaftMessage as WireMessage } from '@dfs/proto';
import type { Message, MessageType, SnapshotMeta } from '../core/types.js';

/* Core messages <-> the protobuf wire form (proto/dfs/v1/raft.proto). */

export function toWire(m: Message): WireMessage {
  return {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength) })),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
    snapshot: m.snapshot ? { index: m.snapshot.index, term: m.snapshot.term, members: m.snapshot.conf.map((x) => ({ ...x })) } : undefined,
    hasSnapshot: m.snapshot !== undefined,
    force: m.force,
  };
}

export function fromWire(w: WireMessage): Message {
  let snapshot: SnapshotMeta | undefined;
  if (w.hasSnapshot && w.snapshot) {
    snapshot = { index: w.snapshot.index, term: w.snapshot.term, conf: w.snapshot.members.map((x) => ({ id: x.id, address: x.address, voter: x.voter })) };
  }
  return {
    type: w.type as MessageType,
    from: w.from,
    to: w.to,
    term: w.term,
    logTerm: w.logTerm,
    index: w.index,
    entries: w.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength) })),
    commit: w.commit,
    reject: w.reject,
    rejectHint: w.rejectHint,
    context: w.context,
    snapshot,
    force: w.force,
  };
}
