import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE, DfsError, ErrorCode, crc32cOf, type ChunkLocation, type ChunkserverRef, type ReadChunkResponse } from '@dfs/proto';
import type { RangeReadContext } from '../src/chunk-read.js';
import { readChunkRange } from './read-chunk-range.js';
import type { ChunkserverPool } from '../src/rpc.js';
import { ReadPolicy } from '../src/read-policy.js';

/*
 * A chunk no replica serves right now (a master just elected, that has not heard every
 * chunkserver's report yet; replicas lost and being copied) is asked for again, with growing
 * pauses, within the read's relocation window: HDFS's DFSInputStream does the same.
 */

/** Each address in `up` serves `data`; any other address fails as an unreachable node does. */
function pool(data: Buffer, up: Set<string>, calls: string[]): ChunkserverPool {
  return {
    get(address: string) {
      return {
        readChunk(req: { offset: number; length: number }) {
          calls.push(address);
          async function* blocks(): AsyncGenerator<ReadChunkResponse> {
            if (!up.has(address)) throw new DfsError(ErrorCode.UNAVAILABLE, `${address} unreachable`);
            for (let off = req.offset; off < req.offset + req.length; off += BLOCK_SIZE) {
              const block = data.subarray(off, Math.min(data.length, off + BLOCK_SIZE));
              yield { offset: off, data: block, crc32c: crc32cOf(block), blockCrc32cs: [] };
            }
          }
          return Object.assign(blocks(), { cancel: () => undefined });
        },
      };
    },
  } as unknown as ChunkserverPool;
}

const ref = (id: string): ChunkserverRef => ({ id, address: `${id}:1`, rack: '' });

describe('reading a chunk no replica serves yet', () => {
  const data = randomBytes(2 * BLOCK_SIZE);
  const chunkWith = (replicas: ChunkserverRef[]): ChunkLocation => ({ handle: 3, version: 1, offset: 0, length: data.length, crc32c: crc32cOf(data), replicas });

  it('asks the master again until it names a replica that serves the bytes', async () => {
    const calls: string[] = [];
    // The master's answers, one per ask: nobody yet, then a node that is down, then a good one.
    const answers = [[], [ref('down')], [ref('down'), ref('b')]];
    let asked = 0;
    const ctx: RangeReadContext = {
      pool: pool(data, new Set(['b:1']), calls),
      policy: new ReadPolicy('round-robin'),
      timeoutMs: 5_000,
      relocateWindowMs: 10_000,
      refresh: async (chunk, opts) => {
        assert.equal(opts?.maxAgeMs, 0, 'a relocation asks for a fresh answer');
        chunk.replicas = answers[Math.min(asked++, answers.length - 1)]!;
      },
    };
    const chunk = chunkWith([]);
    const got = Buffer.concat((await readChunkRange(ctx, chunk, 0, data.length)).bufs);
    assert.ok(got.equals(data));
    assert.equal(asked, 3);
    assert.deepEqual(calls.filter((a) => a === 'b:1'), ['b:1']);
  });

  it('gives up with UNAVAILABLE once the window has passed, naming what failed', async () => {
    let asked = 0;
    const ctx: RangeReadContext = {
      pool: pool(data, new Set(), []),
      policy: new ReadPolicy('round-robin'),
      timeoutMs: 5_000,
      relocateWindowMs: 700,
      refresh: async () => void asked++,
    };
    const started = Date.now();
    await assert.rejects(readChunkRange(ctx, chunkWith([ref('down')]), 0, data.length), (e: DfsError) => e.code === ErrorCode.UNAVAILABLE && /every replica failed .*down: down:1 unreachable/.test(e.message));
    // Pauses of 200 and 400 ms fit in 700 ms; the next (800 ms) does not.
    assert.equal(asked, 2);
    assert.ok(Date.now() - started < 5_000);
  });

  it('does not ask again when every replica is corrupt (only a good copy elsewhere could help)', async () => {
    let asked = 0;
    const bad = Buffer.from(data);
    bad[0] ^= 1;
    const ctx: RangeReadContext = {
      pool: pool(bad, new Set(['a:1']), []),
      policy: new ReadPolicy('round-robin'),
      timeoutMs: 5_000,
      relocateWindowMs: 10_000,
      refresh: async () => void asked++,
    };
    await assert.rejects(readChunkRange(ctx, chunkWith([ref('a')]), 0, data.length), /whole-chunk checksum/);
    assert.equal(asked, 0);
  });

  it('stops pausing at once when the read is cancelled', async () => {
    const abort = new AbortController();
    const ctx: RangeReadContext = {
      pool: pool(data, new Set(), []),
      policy: new ReadPolicy('round-robin'),
      timeoutMs: 5_000,
      relocateWindowMs: 60_000,
      signal: abort.signal,
      refresh: async () => abort.abort(),
    };
    const started = Date.now();
    await assert.rejects(readChunkRange(ctx, chunkWith([]), 0, data.length), (e: DfsError) => e.code === ErrorCode.CANCELLED);
    assert.ok(Date.now() - started < 5_000);
  });
});
