import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE, DfsError, ErrorCode, crc32cOf, type ChunkLocation, type ChunkserverRef, type FileStatus, type ReadChunkResponse } from '@dfs/proto';
import { readChunkRange, type RangeReadContext } from '../src/chunk-read.js';
import type { ChunkserverPool } from '../src/rpc.js';
import { readFileRange } from '../src/file-reader.js';
import { ReadPolicy } from '../src/read-policy.js';

/*
 * Reads check the whole-chunk CRC32C the master recorded, not only each block against the
 * replica's own block checksums: a replica holding other bytes with self-consistent block
 * checksums (a stale or rewritten copy) is reported and skipped.
 */

/** A fake chunkserver pool: each address serves its own bytes, in blocks with their own CRCs. */
function fakePool(bytesByAddress: Map<string, Buffer>): ChunkserverPool {
  return {
    get(address: string) {
      return {
        readChunk(req: { offset: number; length: number }) {
          const data = bytesByAddress.get(address)!;
          const end = req.length === 0 ? data.length : Math.min(data.length, req.offset + req.length);
          async function* blocks(): AsyncGenerator<ReadChunkResponse> {
            for (let off = req.offset; off < end; off += BLOCK_SIZE) {
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

function context(pool: ChunkserverPool, corrupt: string[], policy = new ReadPolicy('round-robin')): RangeReadContext {
  return { pool, policy, timeoutMs: 5_000, onCorruptReplica: (_h, r) => void corrupt.push(r.id) };
}

describe('whole-chunk checksum on reads', () => {
  it('skips a replica whose bytes differ from what the master recorded, and reports it', async () => {
    const good = randomBytes(3 * BLOCK_SIZE + 100);
    const stale = Buffer.from(good);
    stale[5] ^= 0xff; // its own block checksums match its own bytes
    const chunk: ChunkLocation = { handle: 7, version: 1, offset: 0, length: good.length, crc32c: crc32cOf(good), replicas: [ref('bad'), ref('good')] };
    const corrupt: string[] = [];
    const ctx = context(fakePool(new Map([['bad:1', stale], ['good:1', good]])), corrupt);
    // Round-robin: over two reads each replica is tried first once; both reads return the good bytes.
    for (let i = 0; i < 2; i++) assert.ok(Buffer.concat(await readChunkRange(ctx, chunk, 0, good.length)).equals(good));
    assert.deepEqual(corrupt, ['bad']);
  });

  it('fails with CHECKSUM_MISMATCH when every replica differs from the recorded checksum', async () => {
    const data = randomBytes(BLOCK_SIZE);
    const chunk: ChunkLocation = { handle: 8, version: 1, offset: 0, length: data.length, crc32c: (crc32cOf(data) + 1) >>> 0, replicas: [ref('a')] };
    const corrupt: string[] = [];
    await assert.rejects(readChunkRange(context(fakePool(new Map([['a:1', data]])), corrupt), chunk, 0, data.length), (e: DfsError) => e.code === ErrorCode.UNAVAILABLE && /whole-chunk checksum/.test(e.message));
    assert.deepEqual(corrupt, ['a']);
  });

  it('checks a chunk read in several pieces before handing on its last piece', async () => {
    const good = randomBytes(9 * 1024 * 1024);
    const other = Buffer.from(good);
    other[good.length - 1] ^= 1;
    const file = { path: '/f', size: good.length } as FileStatus;
    const mk = (crc: number): ChunkLocation => ({ handle: 9, version: 1, offset: 0, length: good.length, crc32c: crc, replicas: [ref('a')] });
    const read = async (bytes: Buffer, chunk: ChunkLocation): Promise<Buffer> => {
      const out: Buffer[] = [];
      for await (const b of readFileRange(context(fakePool(new Map([['a:1', bytes]])), []), file, [chunk], 0, good.length, 2)) out.push(b);
      return Buffer.concat(out);
    };
    assert.ok((await read(good, mk(crc32cOf(good)))).equals(good));
    await assert.rejects(read(other, mk(crc32cOf(good))), (e: DfsError) => e.code === ErrorCode.CHECKSUM_MISMATCH);
    // 0 = not recorded: nothing to compare.
    assert.ok((await read(other, mk(0))).equals(other));
  });
});
