import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE, DfsError, ErrorCode, MAX_FRAME_PIECES, crc32cOf, type ChunkLocation, type ChunkserverRef, type FileStatus, type ReadChunkResponse } from '@dfs/proto';
import { streamChunkRange, type RangeReadContext } from '../src/chunk-read.js';
import { readChunkRange } from './read-chunk-range.js';
import { HOLD_BYTES, READ_AHEAD_BYTES, readFileRange } from '../src/file-reader.js';
import { ReadPolicy } from '../src/read-policy.js';
import type { ChunkserverPool } from '../src/rpc.js';

/*
 * A read streams each chunk through one long ReadChunk call and resumes on another replica from
 * the last verified byte when a replica dies or stalls mid-call; memory stays bounded by the
 * read-ahead, and an abandoned read cancels its calls.
 */

const MSG = MAX_FRAME_PIECES * BLOCK_SIZE; // 1 MiB, as chunkservers send

/** What a fake replica does: serve `failAfter` messages then fail, or stall after them, or serve all. */
interface Behaviour {
  failAfter?: number;
  stallAfter?: number;
}

interface CallLog {
  address: string;
  offset: number;
  length: number;
  sent: number; // bytes yielded
  cancelled: boolean;
}

/**
 * Resolves once the fake replicas and the reader have stopped moving: the calls started and the
 * bytes sent stay the same over several event-loop turns (everything here runs on promises, so a
 * pump parked on its read-ahead cap makes no more progress). A deadline, not a fixed sleep.
 */
async function quiescent(calls: CallLog[], deadlineMs = 10_000): Promise<void> {
  const giveUpAt = Date.now() + deadlineMs;
  const state = (): string => `${calls.length}/${calls.reduce((n, c) => n + c.sent, 0)}`;
  let last = state();
  let still = 0;
  while (still < 5) {
    if (Date.now() > giveUpAt) throw new Error(`the read never settled (${last})`);
    await new Promise((r) => setTimeout(r, 10));
    const now = state();
    still = now === last ? still + 1 : 0;
    last = now;
  }
}

/** Fake chunkservers: each address serves its own copy of the chunk bytes in 1 MiB messages. */
function fakePool(bytesOf: (handle: number, address: string) => Buffer, behaviour: Map<string, Behaviour>, calls: CallLog[]): ChunkserverPool {
  return {
    get(address: string) {
      return {
        readChunk(req: { handle: number; offset: number; length: number }) {
          const data = bytesOf(req.handle, address);
          const log: CallLog = { address, offset: req.offset, length: req.length, sent: 0, cancelled: false };
          calls.push(log);
          const b = behaviour.get(address) ?? {};
          let cancel: () => void = () => undefined;
          const cancelled = new Promise<never>((_, reject) => {
            cancel = () => {
              log.cancelled = true;
              reject(new DfsError(ErrorCode.CANCELLED, 'Cancelled on client'));
            };
          });
          cancelled.catch(() => undefined);
          const end = Math.min(data.length, req.offset + req.length);
          async function* messages(): AsyncGenerator<ReadChunkResponse> {
            let n = 0;
            for (let off = req.offset; off < end; off += MSG, n++) {
              if (log.cancelled) throw new DfsError(ErrorCode.CANCELLED, 'Cancelled on client');
              if (b.failAfter !== undefined && n >= b.failAfter) throw new DfsError(ErrorCode.UNAVAILABLE, `${address} died`);
              if (b.stallAfter !== undefined && n >= b.stallAfter) await cancelled; // until cancelled
              const bytes = data.subarray(off, Math.min(end, off + MSG));
              const crcs: number[] = [];
              for (let i = 0; i < bytes.length; i += BLOCK_SIZE) crcs.push(crc32cOf(bytes.subarray(i, i + BLOCK_SIZE)));
              log.sent += bytes.length;
              yield { offset: off, data: bytes, crc32c: 0, blockCrc32cs: crcs };
            }
          }
          return Object.assign(messages(), { cancel: () => cancel() });
        },
      };
    },
  } as unknown as ChunkserverPool;
}

const ref = (id: string): ChunkserverRef => ({ id, address: `${id}:1`, rack: '' });

function context(pool: ChunkserverPool, corrupt: string[] = [], timeoutMs = 5_000): RangeReadContext {
  return { pool, policy: new ReadPolicy('round-robin'), timeoutMs, onCorruptReplica: (_h, r) => void corrupt.push(r.id) };
}

async function collect(gen: AsyncGenerator<Buffer, unknown>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of gen) out.push(b);
  return Buffer.concat(out);
}

describe('streamed chunk reads', () => {
  const data = randomBytes(10 * MSG + 12_345);
  const chunk = (replicas: string[], crc = crc32cOf(data)): ChunkLocation => ({ handle: 1, version: 1, offset: 0, length: data.length, crc32c: crc, replicas: replicas.map(ref) });

  it('reads a whole chunk with one call', async () => {
    const calls: CallLog[] = [];
    const got = await collect(streamChunkRange(context(fakePool(() => data, new Map(), calls)), chunk(['a', 'b']), 0, data.length));
    assert.ok(got.equals(data));
    assert.deepEqual(calls.map((c) => [c.address, c.offset, c.length]), [['a:1', 0, data.length]]);
  });

  it('resumes on the next replica from the last verified byte when a replica dies mid-call; the whole-chunk check still holds', async () => {
    const calls: CallLog[] = [];
    const pool = fakePool(() => data, new Map([['a:1', { failAfter: 3 }]]), calls);
    const got = await collect(streamChunkRange(context(pool), chunk(['a', 'b']), 0, data.length, HOLD_BYTES));
    assert.ok(got.equals(data));
    assert.deepEqual(calls.map((c) => [c.address, c.offset]), [['a:1', 0], ['b:1', 3 * MSG]], 'b is asked only for what a did not deliver');
    // A range that starts inside a block resumes at a block boundary too.
    calls.length = 0;
    const part = await readChunkRange(context(pool), chunk(['a', 'b']), 1000, data.length - 7);
    assert.ok(Buffer.concat(part.bufs).equals(data.subarray(1000, data.length - 7)));
    assert.equal(part.crc, crc32cOf(data.subarray(1000, data.length - 7)));
    assert.deepEqual(calls.map((c) => [c.address, c.offset]), [['a:1', 0], ['b:1', 3 * MSG]]);
  });

  it('a replica that stops sending mid-call is cancelled after timeoutMs and the read resumes elsewhere', async () => {
    const calls: CallLog[] = [];
    const pool = fakePool(() => data, new Map([['a:1', { stallAfter: 2 }]]), calls);
    const started = Date.now();
    const got = await collect(streamChunkRange(context(pool, [], 300), chunk(['a', 'b']), 0, data.length, HOLD_BYTES));
    assert.ok(got.equals(data));
    assert.ok(Date.now() - started < 5_000);
    assert.deepEqual(calls.map((c) => [c.address, c.offset, c.cancelled]), [['a:1', 0, true], ['b:1', 2 * MSG, false]]);
  });

  it('a reader that pauses longer than timeoutMs is not taken for a stalled replica', async () => {
    const calls: CallLog[] = [];
    const out: Buffer[] = [];
    for await (const b of streamChunkRange(context(fakePool(() => data, new Map(), calls), [], 100), chunk(['a', 'b']), 0, data.length)) {
      out.push(b);
      if (out.length === 2) await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(Buffer.concat(out).equals(data));
    assert.equal(calls.length, 1);
  });

  it('holds the last HOLD bytes of a whole chunk until the recorded CRC32C matches; a mismatch after bytes went out fails and names the replica', async () => {
    const corrupt: string[] = [];
    const out: Buffer[] = [];
    const gen = streamChunkRange(context(fakePool(() => data, new Map(), []), corrupt), chunk(['a'], (crc32cOf(data) + 1) >>> 0), 0, data.length, HOLD_BYTES);
    await assert.rejects(
      (async () => {
        for await (const b of gen) out.push(b);
      })(),
      (e: DfsError) => e.code === ErrorCode.CHECKSUM_MISMATCH && /master recorded/.test(e.message),
    );
    const handedOn = out.reduce((n, b) => n + b.length, 0);
    assert.ok(handedOn > 0 && handedOn <= data.length - HOLD_BYTES, `handed on ${handedOn} bytes before the check`);
    assert.deepEqual(corrupt, ['a']);
  });

  it('a stale whole copy is skipped for another replica when nothing was handed on yet', async () => {
    const stale = Buffer.from(data);
    stale[data.length - 1] ^= 1; // its own block CRCs match its own bytes
    const corrupt: string[] = [];
    const calls: CallLog[] = [];
    const pool = fakePool((_h, a) => (a === 'a:1' ? stale : data), new Map(), calls);
    const got = await readChunkRange(context(pool, corrupt), chunk(['a', 'b']), 0, data.length);
    assert.ok(Buffer.concat(got.bufs).equals(data));
    assert.deepEqual(corrupt, ['a']);
    assert.deepEqual(calls.map((c) => [c.address, c.offset]), [['a:1', 0], ['b:1', 0]]);
  });
});

describe('streamed file reads', () => {
  const CHUNK = 12 * MSG;
  const chunks: ChunkLocation[] = [];
  const bytes: Buffer[] = [];
  for (let i = 0; i < 6; i++) {
    const b = randomBytes(CHUNK);
    bytes.push(b);
    chunks.push({ handle: i + 1, version: 1, offset: i * CHUNK, length: CHUNK, crc32c: crc32cOf(b), replicas: ['a', 'b', 'c'].map(ref) });
  }
  const file = { path: '/f', size: 6 * CHUNK } as FileStatus;
  const whole = Buffer.concat(bytes);
  const pool = (behaviour: Map<string, Behaviour>, calls: CallLog[]): ChunkserverPool => fakePool((h) => bytes[h - 1]!, behaviour, calls);

  it('streams one call per chunk, spread over the replicas, two in flight', async () => {
    const calls: CallLog[] = [];
    const got = await collect(readFileRange(context(pool(new Map(), calls)), file, chunks, 0, file.size, 2));
    assert.ok(got.equals(whole));
    assert.equal(calls.length, 6);
    assert.deepEqual(new Set(calls.map((c) => c.address)), new Set(['a:1', 'b:1', 'c:1']));
  });

  it('keeps memory bounded: a reader that does not read leaves at most parallel × (read-ahead + held tail) fetched', async () => {
    const calls: CallLog[] = [];
    const gen = readFileRange(context(pool(new Map(), calls)), file, chunks, 0, file.size, 2);
    const first = await gen.next();
    assert.ok(!first.done);
    await quiescent(calls); // every span has pulled all it may
    const fetched = calls.reduce((n, c) => n + c.sent, 0);
    assert.equal(calls.length, 2, 'only two spans started');
    assert.ok(fetched <= 2 * (READ_AHEAD_BYTES + HOLD_BYTES + 2 * MSG), `fetched ${fetched} bytes ahead`);
    assert.ok(fetched < 2 * CHUNK, 'the chunks were not fetched whole');
    await gen.return(undefined);
    assert.ok(calls.every((c) => c.cancelled || c.sent === c.length), 'the calls of an abandoned read are cancelled');
  });

  it('starts the next chunk\'s call as soon as one ends, while the reader still drains it; one span more, no further', async () => {
    const smallBytes = (h: number): Buffer => bytes[h - 1]!.subarray(0, 2 * MSG);
    const small = [0, 1, 2, 3].map((i) => ({ ...chunks[i]!, offset: i * 2 * MSG, length: 2 * MSG, crc32c: crc32cOf(smallBytes(i + 1)) }));
    const calls: CallLog[] = [];
    const gen = readFileRange(context(fakePool(smallBytes, new Map(), calls)), { path: '/s', size: 8 * MSG } as FileStatus, small, 0, 8 * MSG, 1);
    const first = await gen.next();
    assert.ok(!first.done);
    await quiescent(calls);
    // The first call ended into its read-ahead (2 MiB < READ_AHEAD_BYTES), so the second runs;
    // the second also ended, but a third would be a second span ahead of the one being drained.
    assert.deepEqual(calls.map((c) => c.offset), [0, 0]);
    const rest = [first.value as Buffer];
    for await (const b of gen) rest.push(b);
    assert.ok(Buffer.concat(rest).equals(Buffer.concat([0, 1, 2, 3].map((i) => smallBytes(i + 1)))));
    assert.equal(calls.length, 4);
  });

  it('a replica that dies mid-read costs no byte twice: its chunks resume elsewhere and the file is right', async () => {
    const calls: CallLog[] = [];
    const got = await collect(readFileRange(context(pool(new Map([['b:1', { failAfter: 5 }]]), calls)), file, chunks, 0, file.size, 2));
    assert.ok(got.equals(whole));
    const resumed = calls.filter((c) => c.offset > 0);
    assert.ok(resumed.length > 0 && resumed.every((c) => c.offset === 5 * MSG && c.address !== 'b:1'));
    const asked = calls.reduce((n, c) => n + c.length, 0);
    assert.equal(asked, file.size + calls.filter((c) => c.address === 'b:1').length * 7 * MSG, 'each failed call is asked again only for its 7 missing MiB');
  });
});
