import assert from 'node:assert/strict';
import { readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { BLOCK_SIZE, ErrorCode, blockChecksums, crc32cOf, encodeWritePieces } from '@dfs/proto';
import { FAILED_CHUNKSERVER_KEY, type RunningChunkserver } from '../src/index.js';
import { seededBytes, waitFor } from '@dfs/testkit';
import {
  FakeMaster,
  Fleet,
  chunkInfo,
  expectDfsError,
  header,
  readChunk,
  writeChunk,
  writeRaw,
  type WriteMessage,
  testToken,
  tokenMetadata,
  ref,
} from './helpers.js';


function failedNode(err: unknown): string | undefined {
  const v = (err as ServiceError).metadata?.get(FAILED_CHUNKSERVER_KEY)?.[0];
  return v === undefined ? undefined : String(v);
}

describe('write pipeline: 3-replica chain on loopback with a fake master', function () {
  this.timeout(30_000);
  let master: FakeMaster;
  let fleet: Fleet;
  let c1: RunningChunkserver, c2: RunningChunkserver, c3: RunningChunkserver;

  beforeEach(async () => {
    master = await new FakeMaster().start();
    fleet = new Fleet();
    c1 = await fleet.start({ id: 'c1', masters: [master.address] });
    c2 = await fleet.start({ id: 'c2', masters: [master.address] });
    c3 = await fleet.start({ id: 'c3', masters: [master.address] });
  });
  afterEach(async () => {
    await fleet.stopAll();
    master.stop();
  });

  it('writes through the chain: every replica holds identical bytes and CRCs, and is reported', async () => {
    const data = seededBytes(5 * BLOCK_SIZE + 4321, 3);
    const resp = await writeChunk(fleet.client(c1.address), header({ handle: 100, version: 2, chain: [ref(c2), ref(c3)] }), data);
    assert.deepEqual(resp.replicas, ['c1', 'c2', 'c3']);
    assert.equal(resp.length, data.length);
    assert.equal(resp.crc32c, crc32cOf(data));
    for (const cs of [c1, c2, c3]) {
      const info = await chunkInfo(fleet.client(cs.address), 100);
      assert.deepEqual(info, { handle: 100, version: 2, length: data.length, crc32c: crc32cOf(data) });
      const { data: got, frames } = await readChunk(fleet.client(cs.address), { handle: 100 });
      assert.ok(got.equals(data), `replica on ${cs.id} differs`);
      assert.deepEqual(frames.map((f) => f.crc32c), blockChecksums(data));
      assert.deepEqual(frames.map((f) => f.offset), frames.map((_, i) => i * BLOCK_SIZE));
    }
    await waitFor('new replicas in heartbeats', () => ['c1', 'c2', 'c3'].every((id) => master.reported(id).has(100)));
  });

  it('appends along the chain, with frames that do not align to blocks', async () => {
    const a = seededBytes(BLOCK_SIZE + 100, 4);
    const b = seededBytes(3 * BLOCK_SIZE, 5);
    const chain = [ref(c2), ref(c3)];
    await writeChunk(fleet.client(c1.address), header({ handle: 101, chain }), a);
    // An append mutates a committed replica: under a newer (granted) version, as a master hands out.
    const resp = await writeChunk(fleet.client(c1.address), header({ handle: 101, version: 2, chain, offset: a.length }), b, 40_000);
    const all = Buffer.concat([a, b]);
    assert.equal(resp.length, all.length);
    assert.equal(resp.crc32c, crc32cOf(all));
    for (const cs of [c1, c2, c3]) {
      const { data, frames } = await readChunk(fleet.client(cs.address), { handle: 101 });
      assert.ok(data.equals(all));
      assert.deepEqual(frames.map((f) => f.crc32c), blockChecksums(all));
    }
    // a read from the middle starts at the enclosing block
    const part = await readChunk(fleet.client(c3.address), { handle: 101, offset: BLOCK_SIZE + 5, length: 10 });
    assert.equal(part.frames.length, 1);
    assert.equal(part.frames[0]!.offset, BLOCK_SIZE);
  });

  it('fails the whole write naming a dead downstream chunkserver, leaving no replica', async () => {
    const dead = { id: 'c9', address: '127.0.0.1:1', rack: '' };
    const err = await expectDfsError(
      writeChunk(fleet.client(c1.address), header({ handle: 102, chain: [ref(c2), dead] }), seededBytes(3 * BLOCK_SIZE), BLOCK_SIZE, testToken(102, 1, { nodes: ['c1', 'c2', 'c9'] })),
      ErrorCode.UNAVAILABLE,
    );
    assert.match(err.message, /chunkserver c9 \(127\.0\.0\.1:1\) failed/);
    assert.equal(failedNode(err.cause), 'c9');
    for (const cs of [c1, c2]) await expectDfsError(chunkInfo(fleet.client(cs.address), 102), ErrorCode.UNKNOWN_CHUNK);
  });

  it('fails the write naming a chunkserver that stops mid-chain', async () => {
    await c3.stop();
    const err = await expectDfsError(
      writeChunk(fleet.client(c1.address), header({ handle: 103, chain: [ref(c2), ref(c3)] }), seededBytes(BLOCK_SIZE)),
      ErrorCode.UNAVAILABLE,
    );
    assert.match(err.message, /c3/);
    assert.equal(failedNode(err.cause), 'c3');
  });

  it('stores multi-piece frames (1 MiB messages) through the chain exactly as single-piece ones', async () => {
    // 20 blocks + 123 bytes: one frame of 16 pieces, then one of 4 pieces and a short one.
    const data = seededBytes(20 * BLOCK_SIZE + 123, 17);
    const pieces = (from: number, to: number): WriteMessage => {
      const d = data.subarray(from, to);
      return { frame: { data: d, crc32c: 0, pieceCrc32cs: blockChecksums(d) } };
    };
    const res = await writeRaw(fleet.client(c1.address), [
      { header: header({ handle: 110, chain: [ref(c2), ref(c3)] }) },
      pieces(0, 16 * BLOCK_SIZE),
      pieces(16 * BLOCK_SIZE, data.length),
    ]);
    assert.deepEqual(res.replicas, ['c1', 'c2', 'c3']);
    assert.equal(res.length, data.length);
    assert.equal(res.crc32c, crc32cOf(data));
    for (const cs of [c1, c2, c3]) {
      const got = await readChunk(fleet.client(cs.address), { handle: 110 });
      assert.ok(got.data.equals(data), `replica on ${cs.id}`);
      assert.equal(got.messages.length, 2, `20 blocks and a short one come in 2 messages of ≤ 16 blocks, got ${got.messages.length}`);
      assert.deepEqual(got.frames.map((f) => f.crc32c), blockChecksums(data), `block CRCs on ${cs.id}`);
    }
  });

  it('rejects multi-piece frames whose pieces or checksums do not add up', async () => {
    const client = fleet.client(c1.address);
    const d = seededBytes(3 * BLOCK_SIZE, 5);
    const sums = blockChecksums(d);
    const bad = [...sums];
    bad[1] = (bad[1]! ^ 1) >>> 0;
    await expectDfsError(writeRaw(client, [{ header: header({ handle: 111 }) }, { frame: { data: d, crc32c: 0, pieceCrc32cs: bad } }]), ErrorCode.CHECKSUM_MISMATCH);
    await expectDfsError(writeRaw(client, [{ header: header({ handle: 111 }) }, { frame: { data: d, crc32c: 0, pieceCrc32cs: sums.slice(0, 2) } }]), ErrorCode.INVALID_ARGUMENT);
    const big = seededBytes(17 * BLOCK_SIZE, 6);
    await expectDfsError(writeRaw(client, [{ header: header({ handle: 111 }) }, { frame: { data: big, crc32c: 0, pieceCrc32cs: blockChecksums(big) } }]), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(chunkInfo(client, 111), ErrorCode.UNKNOWN_CHUNK);
  });

  it('rejects malformed streams with typed errors and keeps serving', async () => {
    const client = fleet.client(c1.address);
    const f = seededBytes(100);
    await expectDfsError(writeRaw(client, [{ frame: { data: f, crc32c: crc32cOf(f) } }]), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(writeRaw(client, []), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(writeRaw(client, [{ header: header({ handle: 0 }) }]), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(writeRaw(client, [{ header: header({ handle: 5 }) }, { header: header({ handle: 5 }) }]), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(writeRaw(client, [{ header: header({ handle: 5 }) }, { frame: { data: f, crc32c: crc32cOf(f) ^ 1 } }]), ErrorCode.CHECKSUM_MISMATCH);
    const big = seededBytes(BLOCK_SIZE + 1);
    await expectDfsError(writeRaw(client, [{ header: header({ handle: 5 }) }, { frame: { data: big, crc32c: crc32cOf(big) } }]), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(writeChunk(client, header({ handle: 5, chunkSize: 1000 }), seededBytes(1001)), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(writeChunk(client, header({ handle: 5, chain: [{ id: 'x', address: '../etc', rack: '' }] }), f), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(writeChunk(client, header({ handle: 5, offset: 10 }), f), ErrorCode.UNKNOWN_CHUNK);
    // Bytes that are no WriteChunkRequest: a frame cut short, a frame whose data runs past it, garbage.
    const whole = encodeWritePieces([seededBytes(BLOCK_SIZE, 8), seededBytes(BLOCK_SIZE, 9)], [1, 2]);
    const overrun = Buffer.from(whole);
    let p = 1;
    while (whole[p]! & 0x80) p++; // the frame's length varint ends at p; the data field's tag follows
    overrun[p + 2] = 0xff; // the first byte of the data field's length (131072): it now points past the message
    for (const bytes of [whole.subarray(0, whole.length - 3), overrun, Buffer.from([0x12, 0x05, 0x0a, 0x80])]) {
      const err = await expectDfsError(writeRaw(client, [{ header: header({ handle: 5 }) }, { bytes }]), ErrorCode.INVALID_ARGUMENT);
      assert.match(err.message, /malformed WriteChunk message/);
    }
    await expectDfsError(writeRaw(client, [{ bytes: Buffer.from([0x0a, 0x7f]) }]), ErrorCode.INVALID_ARGUMENT);
    await expectDfsError(readChunk(client, { handle: 404 }), ErrorCode.UNKNOWN_CHUNK);
    await expectDfsError(chunkInfo(client, 404), ErrorCode.UNKNOWN_CHUNK);
    // nothing half-written is visible, and the server still works
    await expectDfsError(chunkInfo(client, 5), ErrorCode.UNKNOWN_CHUNK);
    const ok = await writeChunk(client, header({ handle: 5 }), f);
    assert.deepEqual(ok.replicas, ['c1']);
  });

  it('checks versions: a reader wanting a newer version gets STALE_VERSION, an older writer too', async () => {
    const client = fleet.client(c1.address);
    await writeChunk(client, header({ handle: 104, version: 3 }), seededBytes(10));
    await expectDfsError(readChunk(client, { handle: 104, version: 4 }), ErrorCode.STALE_VERSION);
    assert.equal((await readChunk(client, { handle: 104, version: 3 })).data.length, 10);
    await expectDfsError(writeChunk(client, header({ handle: 104, version: 2 }), seededBytes(10)), ErrorCode.STALE_VERSION);
  });

  it('a byte flipped on disk fails the read with CHECKSUM_MISMATCH, reports the replica and stops serving it', async () => {
    const data = seededBytes(3 * BLOCK_SIZE, 6);
    await writeChunk(fleet.client(c2.address), header({ handle: 105 }), data);
    const dir = fleet.dirs[1]!;
    const name = (await readdir(join(dir, 'chunks'))).find((n) => n.startsWith('105.') && n.endsWith('.data'))!;
    const file = join(dir, 'chunks', name);
    const bytes = await readFile(file);
    bytes[BLOCK_SIZE + 17] ^= 0x40;
    await writeFile(file, bytes);
    await expectDfsError(readChunk(fleet.client(c2.address), { handle: 105 }), ErrorCode.CHECKSUM_MISMATCH);
    await waitFor('ReportBadReplica', () => master.badReplicas.some((r) => r.handle === 105 && r.chunkserverId === 'c2'));
    await waitFor('corrupt handle in a heartbeat', () => master.heartbeats.some((h) => h.id === 'c2' && h.corruptHandles.includes(105)));
    await expectDfsError(chunkInfo(fleet.client(c2.address), 105), ErrorCode.UNKNOWN_CHUNK);
  });

  it('deletes replicas on DeleteChunk and on heartbeat commands', async () => {
    const client = fleet.client(c1.address);
    await writeChunk(client, header({ handle: 106 }), seededBytes(10));
    await writeChunk(client, header({ handle: 107 }), seededBytes(10));
    const del = tokenMetadata(testToken(106, 1, { ops: ['delete'] }));
    await new Promise<void>((res, rej) => client.deleteChunk({ handle: 106 }, del, (e) => (e ? rej(e) : res())));
    await expectDfsError(chunkInfo(client, 106), ErrorCode.UNKNOWN_CHUNK);
    await expectDfsError(new Promise((res, rej) => client.deleteChunk({ handle: 106 }, del, (e) => (e ? rej(e) : res(undefined)))), ErrorCode.UNKNOWN_CHUNK);
    master.heartbeatReply = (req) => (req.id === 'c1' ? { deleteHandles: [107] } : {});
    await waitFor('chunk 107 deleted by a heartbeat command', async () => {
      try {
        await chunkInfo(client, 107);
        return false;
      } catch {
        return true;
      }
    });
  });

  it('re-replicates: CopyChunk pulls a verified replica, and so does a replicate command', async () => {
    const data = seededBytes(4 * BLOCK_SIZE + 9, 8);
    await writeChunk(fleet.client(c1.address), header({ handle: 108, version: 4 }), data);
    const resp = await new Promise<{ length: number; crc32c: number }>((res, rej) =>
      fleet.client(c2.address).copyChunk({ handle: 108, version: 4, source: ref(c1) }, tokenMetadata(testToken(108, 4, { ops: ['copy'], nodes: ['c1', 'c2'] })), (e, r) => (e ? rej(e) : res(r))),
    );
    assert.deepEqual(resp, { length: data.length, crc32c: crc32cOf(data) });
    assert.ok((await readChunk(fleet.client(c2.address), { handle: 108 })).data.equals(data));
    assert.equal((await chunkInfo(fleet.client(c2.address), 108)).version, 4);

    master.heartbeatReply = (req) => (req.id === 'c3' && !master.reported('c3').has(108) ? { replicate: [{ handle: 108, version: 4, source: ref(c2), token: testToken(108, 4, { ops: ['copy'], nodes: ['c2', 'c3'] }) }] } : {});
    await waitFor('c3 reports the copied replica', () => master.reported('c3').has(108));
    assert.ok((await readChunk(fleet.client(c3.address), { handle: 108 })).data.equals(data));
  });

  it('a replicate command for a replica already held reports it again (the master learns its version; its copy is done)', async () => {
    await writeChunk(fleet.client(c1.address), header({ handle: 110, version: 3 }), seededBytes(700, 10));
    const reports = (): number[] => master.heartbeats.filter((h) => h.id === 'c1').flatMap((h) => h.newReplicas.filter((r) => r.handle === 110).map((r) => r.version));
    await waitFor('the write reported', () => reports().length === 1);
    // The master took c1's replica for an older one (a late report): it asks c1 to copy it.
    let told = false;
    master.heartbeatReply = (req) => (req.id === 'c1' && !told ? ((told = true), { replicate: [{ handle: 110, version: 3, source: ref(c2), token: testToken(110, 3, { ops: ['copy'], nodes: ['c2', 'c1'] }) }] }) : {});
    await waitFor('the held replica reported again', () => reports().length === 2, 10_000);
    assert.deepEqual(reports(), [3, 3]);
  });

  it('keeps memory bounded for large chunks (streams, never buffers a chunk)', async () => {
    const size = 48 * 1024 * 1024;
    const block = seededBytes(BLOCK_SIZE, 9);
    const crc = crc32cOf(block);
    const before = process.memoryUsage().rss;
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const resp = await new Promise<{ length: number; replicas: string[] }>((resolve, reject) => {
        const call = fleet.client(c1.address).writeChunk(tokenMetadata(testToken(109, 1)), (err, r) => (err ? reject(err) : resolve(r)));
        call.write({ msg: { $case: 'header', value: header({ handle: 109, chain: [ref(c2), ref(c3)], chunkSize: size }) } });
        let sent = 0;
        const pump = (): void => {
          while (sent < size) {
            sent += BLOCK_SIZE;
            if (!call.write({ msg: { $case: 'frame', value: { data: block, crc32c: crc, pieceCrc32cs: [] } } })) {
              call.once('drain', pump);
              return;
            }
          }
          call.end();
        };
        pump();
      });
      assert.equal(resp.length, size);
      assert.deepEqual(resp.replicas, ['c1', 'c2', 'c3']);
    } finally {
      clearInterval(timer);
    }
    // three replicas and the client live in this process: 48 MiB each would be ~150+ MiB if buffered
    assert.ok(peak - before < 100 * 1024 * 1024, `RSS grew by ${Math.round((peak - before) / 1048576)} MiB`);
  });
});
