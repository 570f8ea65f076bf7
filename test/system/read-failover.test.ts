import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { DfsClient } from '@dfs/client';
import { TestCluster } from '@dfs/testkit';

/*
 * A get streams each chunk through one long ReadChunk call (packages/client file-reader.ts). A
 * replica that dies (SIGKILL) or stalls (SIGSTOP) mid-call must not fail the read, and must not
 * cost it the bytes already verified: the read resumes on another replica from the last verified
 * byte. Real processes on loopback; the reader is held after its first MiB so the kill lands
 * while the call is under way (a 64 MiB chunk is far more than the call's buffers ahead).
 */

const MIB = 1024 * 1024;
const CHUNK = 64 * MIB;
const STALL_MS = 2_000;

interface ReadCall {
  address: string;
  offset: number;
  length: number;
}

/** Test-only spy on the client's chunkserver pool: every ReadChunk call's replica and offset, in order. */
function spyOnReads(client: DfsClient): ReadCall[] {
  const calls: ReadCall[] = [];
  const pool = (client as unknown as { chunkservers: { get(address: string): { readChunk: (req: { offset: number; length: number }, ...rest: unknown[]) => unknown } } }).chunkservers;
  const realGet = pool.get.bind(pool);
  pool.get = (address: string) => {
    const stub = realGet(address);
    return new Proxy(stub, {
      get(target, prop, receiver) {
        if (prop !== 'readChunk') return Reflect.get(target, prop, receiver) as unknown;
        return (req: { offset: number; length: number }, ...rest: unknown[]) => {
          calls.push({ address, offset: req.offset, length: req.length });
          return target.readChunk(req, ...rest);
        };
      },
    });
  };
  return calls;
}

describe('reads: a replica lost mid-call', function () {
  this.timeout(240_000);
  let cluster: TestCluster;
  const data = randomBytes(CHUNK + 5 * MIB);
  const digest = createHash('sha256').update(data).digest('hex');

  before(async function () {
    cluster = await TestCluster.start({ masters: 1, chunkservers: 4, chunkSize: CHUNK });
    await cluster.client().put(data, '/r/f');
  });

  after(async function () {
    await cluster?.stop();
  });

  // The SIGKILL goes last: the node stays dead for the rest of the file.
  for (const signal of ['SIGSTOP', 'SIGKILL'] as const) {
    it(`${signal} of the replica serving a chunk mid-call: the get resumes on another replica from the last verified byte`, async function () {
      const client = cluster.client({ readStallMs: STALL_MS, parallelReads: 1 });
      const calls = spyOnReads(client);
      const hash = createHash('sha256');
      let got = 0;
      let victim: string | undefined;
      try {
        for await (const piece of client.readChunks('/r/f')) {
          hash.update(piece);
          got += piece.length;
          if (victim === undefined && got >= MIB) {
            const address = calls[0]!.address;
            victim = cluster.info.chunkservers.find((c) => c.address === address)!.id;
            if (signal === 'SIGKILL') await cluster.kill(victim);
            else cluster.signal(victim, 'SIGSTOP');
          }
        }
        assert.equal(got, data.length);
        assert.equal(hash.digest('hex'), digest, 'the bytes read back are the bytes written');
        const first = calls[0]!;
        assert.deepEqual([first.offset, first.length], [0, CHUNK], 'the chunk was asked for in one call');
        const resumed = calls.find((c) => c.address !== first.address && c.offset > 0);
        assert.ok(resumed, `no call resumed mid-chunk: ${JSON.stringify(calls)}`);
        assert.ok(resumed.offset >= MIB && resumed.offset < CHUNK, `resumed at ${resumed.offset}, inside the first chunk and past what was read`);
        assert.equal(resumed.offset % (64 * 1024), 0, 'at a block boundary');
        assert.equal(resumed.offset + resumed.length, CHUNK, 'the resumed call asks for the rest of the chunk, no more');
        this.test!.title += ` [${victim}, resumed at ${resumed.offset / MIB} MiB]`;
      } finally {
        if (victim && signal === 'SIGSTOP') cluster.signal(victim, 'SIGCONT');
        client.close();
      }
    });
  }
});
