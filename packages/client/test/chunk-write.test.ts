import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  BLOCK_SIZE,
  DfsError,
  ErrorCode,
  blockChecksums,
  crc32cOf,
  decodeWriteRequest,
  framePieces,
  WRITE_HEADROOM,
  type ChunkLocation,
  type WriteChunkResponse,
} from '@dfs/proto';
import { writeChunk } from '../src/chunk-write.js';
import { readLocalRange } from '../src/local-file.js';
import type { ChunkserverPool } from '../src/rpc.js';

/*
 * The client's side of a chunk write, against a fake primary that decodes every message the way a
 * chunkserver does: whatever the source (a local file read with headroom, framed in place, or
 * any stream, framed by copy), the frames carry exactly the bytes with the right CRC32Cs.
 */

interface Received {
  data: Buffer[];
  crcs: number[];
  messages: Buffer[];
}

/** A pool whose one chunkserver checks each frame, keeps its bytes and answers with their length and CRC32C. */
function fakePrimary(): { pool: ChunkserverPool; got: Received } {
  const got: Received = { data: [], crcs: [], messages: [] };
  const pool = {
    get: () => ({
      makeClientStreamRequest(_path: string, serialize: (b: Buffer) => Buffer, _d: unknown, _md: unknown, _o: unknown, cb: (e: unknown, r?: WriteChunkResponse) => void) {
        let settled = false;
        const settle = (e: unknown, r?: WriteChunkResponse): void => {
          if (!settled) setImmediate(() => cb(e, r));
          settled = true;
        };
        const call = Object.assign(new EventEmitter(), {
          write(b: Buffer): boolean {
            const raw = serialize(b);
            got.messages.push(raw);
            const req = decodeWriteRequest(Buffer.from(raw));
            assert.equal(req.malformed, undefined);
            if (req.msg.msg?.$case === 'frame') {
              const f = req.msg.msg.value;
              for (const piece of framePieces(f.data, f.crc32c, f.pieceCrc32cs)) {
                assert.equal(crc32cOf(piece.data), piece.crc, 'each piece arrives with its own CRC32C');
                got.data.push(Buffer.from(piece.data));
                got.crcs.push(piece.crc);
              }
            }
            return true;
          },
          end(): void {
            const all = Buffer.concat(got.data);
            settle(null, { length: all.length, crc32c: crc32cOf(all), replicas: ['c1'] });
          },
          // As grpc-js: a cancelled call ends with CANCELLED.
          cancel(): void {
            settle(Object.assign(new Error('1 CANCELLED: Cancelled on client'), { code: 1 }));
          },
        });
        return call;
      },
    }),
  } as unknown as ChunkserverPool;
  return { pool, got };
}

const location = (handle: number): ChunkLocation =>
  ({ handle, version: 1, offset: 0, length: 0, crc32c: 0, replicas: [{ id: 'c1', address: '127.0.0.1:1', rack: '' }], token: '' }) as unknown as ChunkLocation;

describe('chunk write: frames from local files and streams', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dfs-chunk-write-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const size of [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, 3 * BLOCK_SIZE + 5, 16 * BLOCK_SIZE, 40 * BLOCK_SIZE + 123]) {
    it(`a local file of ${size} bytes goes out in place, 1 MiB messages, with its block CRC32Cs and whole CRC32C`, async () => {
      const bytes = randomBytes(size);
      const path = join(dir, `f${size}`);
      await writeFile(path, bytes);
      const { pool, got } = fakePrimary();
      const res = await writeChunk(pool, location(1), 64 * 1024 * 1024, readLocalRange(path, 0, size, 1024 * 1024));
      assert.ok(Buffer.concat(got.data).equals(bytes));
      assert.deepEqual(got.crcs, blockChecksums(bytes));
      assert.equal(res.length, size);
      assert.equal(res.crc32c, crc32cOf(bytes));
      assert.ok(got.messages.slice(1).every((m) => m.length <= 1024 * 1024 + WRITE_HEADROOM), 'messages of at most 1 MiB of data');
      // Every whole MiB went out as the buffer it was read into (headroom + 1 MiB), not a copy.
      const inPlace = got.messages.filter((m) => m.buffer.byteLength === WRITE_HEADROOM + 1024 * 1024).length;
      assert.equal(inPlace, Math.floor(size / (1024 * 1024)));
    });
  }

  it('a range of a local file, and stream pieces of odd sizes, frame the same bytes', async () => {
    const bytes = randomBytes(5 * BLOCK_SIZE + 999);
    const path = join(dir, 'range');
    await writeFile(path, bytes);
    const start = BLOCK_SIZE + 3;
    const fromFile = fakePrimary();
    await writeChunk(fromFile.pool, location(2), 64 * 1024 * 1024, readLocalRange(path, start, bytes.length, 100_000));
    assert.ok(Buffer.concat(fromFile.got.data).equals(bytes.subarray(start)));
    async function* odd(): AsyncGenerator<Buffer> {
      for (let off = 0; off < bytes.length; off += 7777) yield bytes.subarray(off, Math.min(bytes.length, off + 7777));
    }
    const fromStream = fakePrimary();
    const res = await writeChunk(fromStream.pool, location(3), 64 * 1024 * 1024, odd());
    assert.ok(Buffer.concat(fromStream.got.data).equals(bytes));
    assert.equal(res.crc32c, crc32cOf(bytes));
  });

  it('a local file that shrank while it was read fails with INVALID_ARGUMENT, not a short chunk', async () => {
    const path = join(dir, 'short');
    await writeFile(path, randomBytes(BLOCK_SIZE));
    const { pool } = fakePrimary();
    await assert.rejects(writeChunk(pool, location(4), 64 * 1024 * 1024, readLocalRange(path, 0, 3 * BLOCK_SIZE, 1024 * 1024)), (err: unknown) => {
      assert.ok(err instanceof DfsError);
      assert.equal(err.code, ErrorCode.INVALID_ARGUMENT);
      assert.match(err.message, /changed while it was read/);
      return true;
    });
  });

  it('readLocalRange closes the file when its reader stops early', async () => {
    const path = join(dir, 'early');
    await writeFile(path, randomBytes(4 * 1024 * 1024));
    for await (const piece of readLocalRange(path, 0, 4 * 1024 * 1024, 1024 * 1024)) {
      assert.equal(piece.length, 1024 * 1024);
      break;
    }
    // The prefetched read finished and the handle closed: removing the directory later works, and
    // no 'unhandled rejection' or open-handle warning follows.
  });
});
