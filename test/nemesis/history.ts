import { appendFileSync, readFileSync } from 'node:fs';

/*
 * A recorded history, one JSON object a line: every operation is an `invoke` followed by
 * its completion, `ok` (it happened, with its output), `fail` (it certainly did not happen)
 * or `unknown` (it may have happened: a timeout, a lost answer). An invoke with no
 * completion (the workload was killed) is unknown too.
 */

export type Outcome = 'ok' | 'fail' | 'unknown';

export interface HistoryEvent {
  /** Operation id, unique in the history. */
  id: number;
  /** The logical client (process) that ran it. */
  proc: string;
  type: 'invoke' | Outcome;
  /** What the operation is: "create", "rename", "append", "read", "put", ... */
  f: string;
  /** Arguments at invoke, results at completion. */
  args?: Record<string, string | number | boolean>;
  out?: Record<string, string | number | boolean | null>;
  /** Milliseconds since the workload started (monotonic). */
  t: number;
}

/** An operation with its invoke and completion joined; ret = +Infinity when unknown. */
export interface CompletedOp {
  id: number;
  proc: string;
  f: string;
  args: Record<string, string | number | boolean>;
  out: Record<string, string | number | boolean | null> | undefined;
  outcome: Outcome;
  call: number;
  ret: number;
}

export class HistoryWriter {
  private next = 0;
  private readonly start = performance.now();

  constructor(private readonly path: string) {}

  private write(e: HistoryEvent): void {
    appendFileSync(this.path, JSON.stringify(e) + '\n');
  }

  /** Records the invoke, runs `fn`, records its completion (classify decides fail vs unknown for an error). */
  async run<T>(
    proc: string,
    f: string,
    args: HistoryEvent['args'],
    fn: () => Promise<T>,
    classify: (err: unknown) => { outcome: 'fail' | 'unknown' | 'ok'; out?: HistoryEvent['out'] },
    output: (v: T) => HistoryEvent['out'] = () => undefined,
  ): Promise<{ outcome: Outcome; value?: T }> {
    const id = this.next++;
    this.write({ id, proc, type: 'invoke', f, args, t: performance.now() - this.start });
    try {
      const value = await fn();
      this.write({ id, proc, type: 'ok', f, out: output(value), t: performance.now() - this.start });
      return { outcome: 'ok', value };
    } catch (err) {
      const c = classify(err);
      this.write({ id, proc, type: c.outcome, f, out: c.out, t: performance.now() - this.start });
      return { outcome: c.outcome };
    }
  }
}

export function readHistory(path: string): CompletedOp[] {
  const invokes = new Map<number, HistoryEvent>();
  const done: CompletedOp[] = [];
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  for (const line of lines) {
    const e = JSON.parse(line) as HistoryEvent;
    if (e.type === 'invoke') {
      invokes.set(e.id, e);
      continue;
    }
    const inv = invokes.get(e.id);
    if (!inv) throw new Error(`history: completion without invoke: ${line}`);
    invokes.delete(e.id);
    done.push({
      id: e.id, proc: inv.proc, f: inv.f, args: inv.args ?? {}, out: e.out, outcome: e.type as Outcome,
      call: inv.t, ret: e.type === 'unknown' ? Infinity : e.t,
    });
  }
  for (const inv of invokes.values()) {
    done.push({ id: inv.id, proc: inv.proc, f: inv.f, args: inv.args ?? {}, out: undefined, outcome: 'unknown', call: inv.t, ret: Infinity });
  }
  return done.sort((a, b) => a.id - b.id);
}
