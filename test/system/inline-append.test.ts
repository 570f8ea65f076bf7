import assert from 'node:assert/strict';
import { DfsError, ErrorCode, MAX_INLINE_BYTES } from '@dfs/proto';
import type { DfsClient } from '@dfs/client';
import { TestCluster, waitFor } from '@dfs/testkit';

/*
 * Appends to a small file kept inline in the metadata are read-modify-writes of the whole
 * file. The master applies each rewrite only over the inode the client read (compare-and-swap)
 * and the client reads again on a conflict, so concurrent appenders lose nothing — also across
 * a SIGKILL of the master leader, and when the file outgrows the inline limit and becomes a
 * chunked file mid-run.
 */

const APPENDERS = 4;
const RECORDS = 30;
const RECORD_BYTES = 64;

/** One fixed-size, self-describing line: a torn or merged record cannot parse. */
function record(w: number, i: number): string {
  const head = `w${w}-r${String(i).padStart(3, '0')}-`;
  return head + '.'.repeat(RECORD_BYTES - head.length - 1) + '\n';
}

describe('appends to one small inline file from several clients', function () {
  let cluster: TestCluster;
  let admin: DfsClient;

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 3, chunkSize: 64 * 1024 });
    admin = cluster.client({ inlineSmallFiles: true, callTimeoutMs: 2_000, retryWindowMs: 60_000 });
  });

  after(async function () {
    await cluster?.stop();
  });

  it(`${APPENDERS} clients append ${RECORDS} records each while the leader is SIGKILLed: every acknowledged record is there exactly once, inline and after the file outgrew the limit`, async function () {
    this.timeout(240_000);
    // The records overflow the inline limit about half way: both kinds of rewrite race.
    assert.ok(APPENDERS * RECORDS * RECORD_BYTES > MAX_INLINE_BYTES * 1.5);
    const path = '/inline-append/log';
    await admin.put(Buffer.alloc(0), path);
    assert.ok((await admin.locate(path)).inline, 'the file starts inline');

    const acked = new Set<string>();
    const unknown = new Set<string>();
    const errors: string[] = [];
    let sawInlineAfterKill = false;
    const appender = async (w: number): Promise<void> => {
      const client = cluster.client({ inlineSmallFiles: true, callTimeoutMs: 2_000, retryWindowMs: 60_000 });
      for (let i = 0; i < RECORDS; i++) {
        const line = record(w, i);
        for (let attempt = 1; ; attempt++) {
          try {
            await client.append(Buffer.from(line), path);
            acked.add(line);
            break;
          } catch (err) {
            // LEASE_HELD: another client is appending to the (now chunked) file; nothing was written.
            if (DfsError.is(err, ErrorCode.LEASE_HELD) && attempt < 200) {
              await new Promise((r) => setTimeout(r, 10 + 10 * w));
              continue;
            }
            unknown.add(line); // the outcome of anything else is not known: present at most once
            errors.push(`appender ${w} record ${i}: ${(err as Error).message}`);
            break;
          }
        }
      }
    };
    const running = Promise.all(Array.from({ length: APPENDERS }, (_, w) => appender(w)));

    await waitFor('a few acknowledged appends before the crash', () => acked.size >= 10 || errors.length > 0, 60_000, 20);
    const old = await waitFor('a master leader', async () => (await admin.clusterStatus()).leaderId || undefined, 30_000);
    await cluster.kill(old);
    sawInlineAfterKill = (await admin.locate(path)).inline !== undefined;
    await running;
    console.log(`      killed ${old} after ${acked.size >= 10 ? 'at least 10' : acked.size} appends; file still inline then: ${sawInlineAfterKill}; ${acked.size} acknowledged, ${unknown.size} unknown`);

    const text = (await admin.readFile(path)).toString();
    const lines = text.split('\n').slice(0, -1).map((l) => l + '\n');
    assert.equal(lines.join(''), text, 'the file is whole records');
    const seen = new Map<string, number>();
    for (const l of lines) seen.set(l, (seen.get(l) ?? 0) + 1);
    const missing = [...acked].filter((l) => !seen.has(l));
    assert.deepEqual(missing.map((l) => l.slice(0, 8)), [], 'no acknowledged append was lost');
    const twice = [...seen].filter(([, n]) => n > 1).map(([l]) => l.slice(0, 8));
    assert.deepEqual(twice, [], 'no append applied twice');
    const strangers = [...seen.keys()].filter((l) => !acked.has(l) && !unknown.has(l));
    assert.deepEqual(strangers.map((l) => l.slice(0, 12)), [], 'only attempted records');
    // Each client appended one record after another: its acknowledged records keep that order.
    for (let w = 0; w < APPENDERS; w++) {
      const mine = lines.filter((l) => l.startsWith(`w${w}-`) && acked.has(l));
      assert.deepEqual(mine, [...mine].sort(), `appender ${w}'s records in order`);
    }
    assert.ok(acked.size >= APPENDERS * RECORDS - 4, `most appends acknowledged (${acked.size}; errors: ${errors.join(' | ')})`);
    assert.equal((await admin.locate(path)).inline, undefined, 'the file outgrew the inline limit');
  });
});
