import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { BLOCK_SIZE, ErrorCode, crc32cOf } from '@dfs/proto';
import { FAILED_CHUNKSERVER_KEY, type ChunkserverFaultInjector } from '../src/index.js';
import { seededBytes, waitFor } from '@dfs/testkit';
import { FakeMaster, Fleet, chunkInfo, expectDfsError, header, readChunk, removeDir, tempDir, writeChunk, ref } from './helpers.js';


describe('fault injection, scrubber, full disk', function () {
  this.timeout(30_000);
  let master: FakeMaster;
  let fleet: Fleet;

  beforeEach(async () => {
    master = await new FakeMaster().start();
    fleet = new Fleet();
  });
  afterEach(async () => {
    await fleet.stopAll();
    master.stop();
  });

  it('beforeWriteFrame throwing on the last replica fails the write, naming it', async () => {
    const fi: ChunkserverFaultInjector = {
      beforeWriteFrame: (handle, offset) => {
        if (handle === 200 && offset === 2 * BLOCK_SIZE) throw new Error('injected disk error');
      },
    };
    const c1 = await fleet.start({ id: 'c1', masters: [master.address] });
    const c2 = await fleet.start({ id: 'c2', masters: [master.address], faultInjector: fi });
    const err = await expectDfsError(writeChunk(fleet.client(c1.address), header({ handle: 200, chain: [ref(c2)] }), seededBytes(4 * BLOCK_SIZE)), ErrorCode.INTERNAL);
    assert.match(err.message, /chunkserver c2: injected disk error/);
    assert.equal(String((err.cause as ServiceError).metadata.get(FAILED_CHUNKSERVER_KEY)[0]), 'c2');
    await expectDfsError(chunkInfo(fleet.client(c1.address), 200), ErrorCode.UNKNOWN_CHUNK);
    // the next write to the same node works
    await writeChunk(fleet.client(c1.address), header({ handle: 201, chain: [ref(c2)] }), seededBytes(4 * BLOCK_SIZE));
  });

  it('a downstream that stalls past the pipeline timeout fails the write (beforeForward delay)', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c2 = await fleet.start({ id: 'c2', masters: [master.address], faultInjector: { beforeWriteFrame: () => gate } });
    const c1 = await fleet.start({ id: 'c1', masters: [master.address], pipelineTimeoutMs: 300 });
    try {
      const err = await expectDfsError(writeChunk(fleet.client(c1.address), header({ handle: 202, chain: [ref(c2)] }), seededBytes(2 * BLOCK_SIZE)), ErrorCode.UNAVAILABLE);
      assert.match(err.message, /c2/);
    } finally {
      release();
    }
    let forwarded = 0;
    const c3 = await fleet.start({ id: 'c3', masters: [master.address], faultInjector: { beforeForward: async () => void forwarded++ } });
    await writeChunk(fleet.client(c3.address), header({ handle: 203, chain: [ref(c1)] }), seededBytes(3 * BLOCK_SIZE));
    assert.equal(forwarded, 3);
  });

  it('corruptReadBlock makes a read fail with CHECKSUM_MISMATCH and the replica get reported', async () => {
    const fi: ChunkserverFaultInjector = {
      corruptReadBlock: (handle, off, data) => {
        if (handle === 204 && off === BLOCK_SIZE) data[0] ^= 1;
      },
    };
    const c1 = await fleet.start({ id: 'c1', masters: [master.address], faultInjector: fi });
    await writeChunk(fleet.client(c1.address), header({ handle: 204 }), seededBytes(2 * BLOCK_SIZE));
    await writeChunk(fleet.client(c1.address), header({ handle: 205 }), seededBytes(2 * BLOCK_SIZE));
    await expectDfsError(readChunk(fleet.client(c1.address), { handle: 204 }), ErrorCode.CHECKSUM_MISMATCH);
    await waitFor('corrupt report', () => master.corruptReported('c1').has(204));
    assert.equal((await readChunk(fleet.client(c1.address), { handle: 205 })).data.length, 2 * BLOCK_SIZE);
  });

  it('the scrubber finds a flipped byte in a chunk nobody reads', async () => {
    const c1 = await fleet.start({ id: 'c1', masters: [master.address], scrubIntervalMs: 30, scrubBytesPerSec: 64 * 1024 * 1024 });
    const data = seededBytes(3 * BLOCK_SIZE + 5);
    await writeChunk(fleet.client(c1.address), header({ handle: 206 }), data);
    await writeChunk(fleet.client(c1.address), header({ handle: 207 }), data);
    const chunks = join(fleet.dirs[0]!, 'chunks');
    const file = join(chunks, (await readdir(chunks)).find((n) => n.startsWith('206.') && n.endsWith('.data'))!);
    const bytes = await readFile(file);
    bytes[bytes.length - 1] ^= 0x80;
    await writeFile(file, bytes);
    await waitFor('scrubber report', () => master.corruptReported('c1').has(206), 10_000);
    await expectDfsError(chunkInfo(fleet.client(c1.address), 206), ErrorCode.UNKNOWN_CHUNK);
    assert.equal((await chunkInfo(fleet.client(c1.address), 207)).crc32c, crc32cOf(data));
    assert.ok(!master.corruptReported('c1').has(207));
  });

  it('a full disk (ENOSPC) fails the write with NO_SPACE in one line, leaves nothing visible, and the server lives on', async () => {
    let full = true;
    const fi: ChunkserverFaultInjector = {
      beforeWriteFrame: (_h, offset) => {
        if (full && offset > 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    };
    const c1 = await fleet.start({ id: 'c1', masters: [master.address], faultInjector: fi });
    const err = await expectDfsError(writeChunk(fleet.client(c1.address), header({ handle: 208 }), seededBytes(3 * BLOCK_SIZE)), ErrorCode.NO_SPACE);
    assert.doesNotMatch(err.message, /\n/);
    assert.match(err.message, /^chunkserver c1: ENOSPC/);
    await expectDfsError(chunkInfo(fleet.client(c1.address), 208), ErrorCode.UNKNOWN_CHUNK);
    assert.deepEqual(await readdir(join(fleet.dirs[0]!, 'tmp')), []);
    full = false;
    await writeChunk(fleet.client(c1.address), header({ handle: 208 }), seededBytes(3 * BLOCK_SIZE));
  });

  it('a quota below what is stored reports zero free space and rejects writes with NO_SPACE', async () => {
    const c1 = await fleet.start({ id: 'c1', masters: [master.address], capacityBytes: 200_000 });
    await writeChunk(fleet.client(c1.address), header({ handle: 209 }), seededBytes(150_000));
    await expectDfsError(writeChunk(fleet.client(c1.address), header({ handle: 210 }), seededBytes(100_000)), ErrorCode.NO_SPACE);
    await waitFor('heartbeat with quota', () => master.heartbeats.some((h) => h.id === 'c1' && h.chunkCount === 1 && h.freeBytes === 50_000 && h.capacityBytes === 200_000));
  });

  it('survives a restart: committed chunks are loaded and reported, corrupt metadata is reported', async () => {
    const dir = await tempDir();
    try {
      let c1 = await fleet.start({ id: 'c1', masters: [master.address], dir });
      const data = seededBytes(BLOCK_SIZE + 3);
      await writeChunk(fleet.client(c1.address), header({ handle: 211 }), data);
      await writeChunk(fleet.client(c1.address), header({ handle: 212 }), data);
      await c1.stop();
      await writeFile(join(dir, 'chunks', '212.meta'), 'torn');
      const registrations = master.registers.length;
      c1 = await fleet.start({ id: 'c1', masters: [master.address], dir });
      await waitFor('registration after restart', () => master.registers.length > registrations);
      const last = master.registers[master.registers.length - 1]!;
      assert.deepEqual(last.replicas.map((r) => r.handle), [211]);
      assert.ok((await readChunk(fleet.client(c1.address), { handle: 211 })).data.equals(data));
      await waitFor('corrupt at startup reported', () => master.corruptReported('c1').has(212));
    } finally {
      await fleet.stopAll();
      await removeDir(dir);
    }
  });
});
