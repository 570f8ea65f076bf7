import { strict as assert } from 'node:assert';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@dfs/proto';

/*
 * The durability contract across real processes: SIGKILL the leader in the middle of a
 * stream of writes (and of snapshots), restart it from its directory, and every write
 * that was acknowledged is on every node — applied once, in the same order.
 */
interface Child {
  id: string;
  proc: ChildProcess;
  seq: number;
  waiting: Map<number, (m: Record<string, unknown>) => void>;
}

describe('RaftNode crash recovery across processes (SIGKILL)', function () {
  this.timeout(90_000);
  let root: string;
  const children = new Map<string, Child>();

  afterEach(() => {
    for (const c of children.values()) c.proc.kill('SIGKILL');
    children.clear();
    rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
  });

  function spawn(id: string, peers: Array<{ id: string; address: string }>): Promise<Child> {
    const dir = join(root, id);
    mkdirSync(dir, { recursive: true });
    const proc = fork(join(__dirname, 'child-node.js'), [JSON.stringify({ id, peers, dir, snapshotEvery: 50 })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const child: Child = { id, proc, seq: 0, waiting: new Map() };
    children.set(id, child);
    return new Promise((resolve, reject) => {
      proc.on('message', (m: Record<string, unknown>) => {
        if (m.ready) resolve(child);
        const w = child.waiting.get(m.seq as number);
        if (w) {
          child.waiting.delete(m.seq as number);
          w(m);
        }
      });
      proc.once('exit', () => {
        for (const w of child.waiting.values()) w({ ok: false, error: 'exited' });
        child.waiting.clear();
        reject(new Error(`${id} exited`));
      });
    });
  }

  function ask(c: Child, req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const seq = ++c.seq;
    return new Promise((resolve) => {
      c.waiting.set(seq, resolve);
      // A child just SIGKILLed may still look connected: its send fails (EPIPE) in the callback, not as an uncaught error.
      const gone = (): void => {
        c.waiting.delete(seq);
        resolve({ ok: false, error: 'gone' });
      };
      if (!c.proc.connected) gone();
      else c.proc.send({ seq, ...req }, (err) => err && gone());
    });
  }

  async function leader(): Promise<Child> {
    const giveUpAt = Date.now() + 30_000; // an election after a SIGKILL, on a loaded machine
    while (Date.now() < giveUpAt) {
      for (const c of children.values()) {
        if (!c.proc.connected) continue;
        const st = await ask(c, { cmd: 'status' });
        if (st.leader) return c;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('no leader');
  }

  it('acknowledged writes survive SIGKILL of the leader mid-stream and its restart from disk', async () => {
    root = mkdtempSync(join(tmpdir(), 'raft-crash-'));
    const peers = [];
    for (const id of ['m1', 'm2', 'm3']) peers.push({ id, address: `127.0.0.1:${await freePort()}` });
    for (const p of peers) await spawn(p.id, peers);
    const acked = new Set<string>();
    let killed: string | undefined;
    let n = 0;
    // Eight writers; the leader is killed after 150 acknowledgements.
    const writer = async (w: number): Promise<void> => {
      while (acked.size < 400) {
        const l = await leader();
        const k = `k${w}-${n++}`;
        const r = await ask(l, { cmd: 'propose', k, v: k });
        if (r.ok) acked.add(k);
        if (acked.size >= 150 && !killed) {
          killed = l.id;
          l.proc.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
    assert.ok(killed);
    children.delete(killed);
    await spawn(killed, peers);
    const keys = [...acked];
    for (const c of children.values()) {
      let values: unknown[] = [];
      for (let i = 0; i < 500; i++) {
        values = (await ask(c, { cmd: 'get', keys })).values as unknown[];
        if (values.every((v, j) => v === keys[j])) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const missing = keys.filter((k, j) => values[j] !== k);
      assert.deepEqual(missing, [], `${c.id} lacks acknowledged writes`);
    }
    const applied = await Promise.all([...children.values()].map(async (c) => (await ask(c, { cmd: 'status' })).applied as number));
    assert.ok(applied.every((a) => a > 0));
  });
});
