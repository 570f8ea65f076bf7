/*
 * A linearizability checker for key-value histories (Wing & Gong's search with Lowe's
 * memoisation, as in Porcupine). The history is partitioned by key (linearizability is
 * compositional, Herlihy & Wing 1990), and each key is checked on its own.
 *
 * An operation whose outcome the client never learned (it timed out) is given a return
 * time of +Infinity: it may take effect at any point after its call, or never... for a
 * write, "never" is the same as "after everything else", so +Infinity covers both.
 */
export type KvOp = 'get' | 'put' | 'append';

export interface Operation {
  readonly client: number;
  readonly op: KvOp;
  readonly key: string;
  /** put/append: the argument. */
  readonly value: string;
  /** get: what was read; undefined when the outcome is unknown. */
  readonly output: string | undefined;
  readonly call: number;
  /** +Infinity when the client timed out. */
  readonly ret: number;
}

/** What the search needs of an operation: its call and return times (+Infinity = unknown). */
export interface Timed {
  readonly call: number;
  readonly ret: number;
}

/** A sequential model: applies `op` to `state` (a string, so states can be memoised); ok = the op's recorded output is possible. */
export type ModelStep<O> = (state: string, op: O) => { ok: boolean; state: string };

interface Node<O> {
  readonly isCall: boolean;
  readonly id: number;
  readonly op: O;
  readonly time: number;
  match: Node<O> | undefined;
  prev: Node<O> | undefined;
  next: Node<O> | undefined;
}

function step(state: string, op: Operation): { ok: boolean; state: string } {
  switch (op.op) {
    case 'get':
      return { ok: op.output === undefined || op.output === state, state };
    case 'put':
      return { ok: true, state: op.value };
    case 'append':
      return { ok: true, state: state + op.value };
  }
}

export interface CheckResult {
  readonly ok: boolean;
  /** The first key whose history is not linearizable. */
  readonly badKey?: string;
  readonly ops: number;
}

export function checkHistory(history: readonly Operation[]): CheckResult {
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    const list = byKey.get(op.key);
    if (list) list.push(op);
    else byKey.set(op.key, [op]);
  }
  for (const [key, ops] of [...byKey].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (!checkSingle(ops)) return { ok: false, badKey: key, ops: history.length };
  }
  return { ok: true, ops: history.length };
}

/** True when `ops` (one key, initial value '') is linearizable. */
export function checkSingle(ops: readonly Operation[]): boolean {
  return checkModel(ops, '', step);
}

/**
 * True when `ops` is linearizable against a model starting at `init`: the same search for any
 * model (the nemesis checks file-system histories with it).
 */
export function checkModel<O extends Timed>(ops: readonly O[], init: string, stepFn: ModelStep<O>): boolean;
export function checkModel<O extends Timed>(ops: readonly O[], init: string, stepFn: ModelStep<O>, maxSteps: number): boolean | undefined;
/** With `maxSteps`: undefined when the search gives up (many unknown outcomes make it exponential). */
export function checkModel<O extends Timed>(ops: readonly O[], init: string, stepFn: ModelStep<O>, maxSteps = Infinity): boolean | undefined {
  if (ops.length === 0) return true;
  type N = Node<O>;
  const events: N[] = [];
  ops.forEach((op, id) => {
    const call: N = { isCall: true, id, op, time: op.call, match: undefined, prev: undefined, next: undefined };
    const ret: N = { isCall: false, id, op, time: op.ret, match: undefined, prev: undefined, next: undefined };
    call.match = ret;
    events.push(call, ret);
  });
  // By time; at equal times calls first (they are concurrent with returns at that instant).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.id - b.id : a.isCall ? -1 : 1));
  const head: N = { isCall: false, id: -1, op: ops[0], time: -Infinity, match: undefined, prev: undefined, next: undefined };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  const lift = (n: N): void => {
    (n.prev as N).next = n.next;
    if (n.next) n.next.prev = n.prev;
    const m = n.match as N;
    (m.prev as N).next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (n: N): void => {
    const m = n.match as N;
    (m.prev as N).next = m;
    if (m.next) m.next.prev = m;
    (n.prev as N).next = n;
    if (n.next) n.next.prev = n;
  };
  const words = Math.ceil(ops.length / 32);
  const linearized = new Uint32Array(words);
  const cache = new Set<string>();
  const stack: Array<{ node: N; state: string }> = [];
  let state = init;
  let entry = head.next;
  let steps = 0;
  while (head.next) {
    if (++steps > maxSteps) return undefined;
    if (!entry) return false;
    if (entry.isCall) {
      const r = stepFn(state, entry.op);
      if (r.ok) {
        linearized[entry.id >> 5] |= 1 << (entry.id & 31);
        const key = `${linearized.join(',')}|${r.state}`;
        if (!cache.has(key)) {
          cache.add(key);
          stack.push({ node: entry, state });
          state = r.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized[entry.id >> 5] &= ~(1 << (entry.id & 31));
      }
      entry = entry.next;
    } else {
      // A return reached with its call not linearized: backtrack.
      const top = stack.pop();
      if (!top) return false;
      state = top.state;
      linearized[top.node.id >> 5] &= ~(1 << (top.node.id & 31));
      unlift(top.node);
      entry = top.node.next;
    }
  }
  return true;
}
