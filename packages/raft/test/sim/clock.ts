/*
 * The virtual clock and event queue: nothing in a simulation reads real time.
 * Events at the same instant run in the order they were scheduled.
 */
interface Event {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

export class VirtualClock {
  now = 0;
  private seq = 0;
  private heap: Event[] = [];
  /** Called after every event (the invariant checker hooks in here). */
  afterEvent: () => void = () => {};

  schedule(delayMs: number, run: () => void): void {
    const e: Event = { at: this.now + Math.max(0, delayMs), seq: this.seq++, run };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): Event | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop() as Event;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }

  /** Runs every event up to now + ms, then sets the clock to now + ms. */
  runFor(ms: number): void {
    this.runUntil(this.now + ms);
  }

  runUntil(t: number): void {
    for (;;) {
      const top = this.heap[0];
      if (!top || top.at > t) break;
      this.pop();
      this.now = top.at;
      top.run();
      this.afterEvent();
    }
    this.now = Math.max(this.now, t);
  }
}

function less(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
