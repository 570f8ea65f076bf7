import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BLOCK_SIZE, DfsError, ErrorCode, crc32cOf, type ChunkLocation, type ChunkserverRef, type FileStatus, type ReadChunkResponse } from '@dfs/proto';
import type { RangeReadContext } from '../src/chunk-read.js';
import { readChunkRange } from './read-chunk-range.js';
import type { ChunkserverPool } from '../src/rpc.js';
import { readFileRange } from '../src/file-reader.js';
import { ReadPolicy } from '../src/read-policy.js';

/*
 * Reads check the whole-chunk CRC32C the master recorded, not only each block against the
 * replica's own block checksums: a replica holding other bytes with self-consistent block
 * checksums (a stale or rewritten copy) is reported and skipped.
 */

/**
 * A fake chunkserver pool: each address serves its own bytes, in blocks with their own CRCs:
 * one block per message, or `blocksPerMessage` per message (block_crc32cs) as chunkservers send.
 * `stored` gives an address the CRCs it stored at write time (bytes that rotted since then).
 */
function fakePool(bytesByAddress: Map<string, Buffer>, blocksPerMessage = 1, stored = new Map<string, Buffer>()): ChunkserverPool {
  return {
    get(address: string) {
      return {
        readChunk(req: { offset: number; length: number }) {
          const data = bytesByAddress.get(address)!;
          const crcOf = (off: number, len: number): number => crc32cOf((stored.get(address) ?? data).subarray(off, off + len));
          const end = req.length === 0 ? data.length : Math.min(data.length, req.offset + req.length);
          async function* messages(): AsyncGenerator<ReadChunkResponse> {
            for (let off = req.offset; off < end; off += blocksPerMessage * BLOCK_SIZE) {
              const bytes = data.subarray(off, Math.min(data.length, off + blocksPerMessage * BLOCK_SIZE));
              const crcs: number[] = [];
              for (let b = 0; b < bytes.length; b += BLOCK_SIZE) crcs.push(crcOf(off + b, Math.min(BLOCK_SIZE, bytes.length - b)));
              yield blocksPerMessage === 1 ? { offset: off, data: bytes, crc32c: crcs[0]!, blockCrc32cs: [] } : { offset: off, data: bytes, crc32c: 0, blockCrc32cs: crcs };
            }
          }
          return Object.assign(messages(), { cancel: () => undefined });
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
    for (let i = 0; i < 2; i++) assert.ok(Buffer.concat((await readChunkRange(ctx, chunk, 0, good.length)).bufs).equals(good));
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

  it('catches a rotten block inside a 16-block message, reports the replica and reads another', async () => {
    const good = randomBytes(40 * BLOCK_SIZE + 321);
    const rotten = Buffer.from(good);
    rotten[25 * BLOCK_SIZE + 7] ^= 0x10; // block 25: the 10th block of the second 1 MiB message
    const chunk: ChunkLocation = { handle: 11, version: 1, offset: 0, length: good.length, crc32c: crc32cOf(good), replicas: [ref('rot'), ref('good')] };
    const corrupt: string[] = [];
    const ctx = context(fakePool(new Map([['rot:1', rotten], ['good:1', good]]), 16, new Map([['rot:1', good]])), corrupt);
    // Round-robin: each replica is tried first once; a range that does not start at 0 has no whole-chunk check.
    for (const [start, end] of [[0, good.length], [BLOCK_SIZE + 5, 30 * BLOCK_SIZE]] as const) {
      const got = await readChunkRange(ctx, chunk, start, end);
      assert.ok(Buffer.concat(got.bufs).equals(good.subarray(start, end)));
    }
    assert.deepEqual(corrupt, ['rot']);
  });

  it('returns the CRC32C of exactly the bytes of any range, folded from the block CRC32Cs', async () => {
    const data = randomBytes(37 * BLOCK_SIZE + 1000);
    const chunk: ChunkLocation = { handle: 12, version: 1, offset: 0, length: data.length, crc32c: crc32cOf(data), replicas: [ref('a')] };
    for (const perMessage of [1, 16]) {
      const ctx = context(fakePool(new Map([['a:1', data]]), perMessage), []);
      const ranges = [[0, data.length], [0, 1], [1, BLOCK_SIZE], [BLOCK_SIZE, 2 * BLOCK_SIZE], [BLOCK_SIZE - 1, 17 * BLOCK_SIZE + 3], [36 * BLOCK_SIZE + 999, data.length], [5, data.length - 5]] as const;
      for (const [start, end] of ranges) {
        const got = await readChunkRange(ctx, chunk, start, end);
        const bytes = Buffer.concat(got.bufs);
        assert.ok(bytes.equals(data.subarray(start, end)), `bytes of [${start}, ${end})`);
        assert.equal(got.crc, crc32cOf(bytes), `CRC of [${start}, ${end}), ${perMessage} blocks per message`);
      }
    }
  });

  it('checks a chunk read in several pieces of 16-block messages against the recorded CRC32C', async () => {
    const good = randomBytes(9 * 1024 * 1024 + 17);
    const other = Buffer.from(good);
    other[3] ^= 1; // self-consistent: its own block CRCs match
    const file = { path: '/f', size: good.length } as FileStatus;
    const chunk: ChunkLocation = { handle: 13, version: 1, offset: 0, length: good.length, crc32c: crc32cOf(good), replicas: [ref('a')] };
    const read = async (bytes: Buffer): Promise<Buffer> => {
      const out: Buffer[] = [];
      for await (const b of readFileRange(context(fakePool(new Map([['a:1', bytes]]), 16), []), file, [chunk], 0, good.length, 3)) out.push(b);
      return Buffer.concat(out);
    };
    assert.ok((await read(good)).equals(good));
    await assert.rejects(read(other), (e: DfsError) => e.code === ErrorCode.CHECKSUM_MISMATCH && /master recorded/.test(e.message));
  });
});

