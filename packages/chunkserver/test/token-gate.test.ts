import assert from 'node:assert/strict';
import { BLOCK_SIZE, ErrorCode } from '@dfs/proto';
import { newChunkTokenKey } from '@dfs/security';
import { seededBytes } from '@dfs/testkit';
import type { RunningChunkserver } from '../src/index.js';
import { FakeMaster, Fleet, chunkInfo, expectDfsError, header, readChunk, testToken, tokenMetadata, writeChunk, ref } from './helpers.js';

/*
 * No token, no bytes: each chunkserver RPC is refused without a token the master signed for
 * this chunk, version, operation and node (HDFS block access tokens), with a typed error.
 */
describe('chunk access tokens on a chunkserver (fake master hands out the key ring)', function () {
  this.timeout(60_000);
  let master: FakeMaster;
  const fleet = new Fleet();
  let c1: RunningChunkserver;
  let c2: RunningChunkserver;
  const data = seededBytes(2 * BLOCK_SIZE + 7, 31);

  before(async () => {
    master = await new FakeMaster().start();
    c1 = await fleet.start({ id: 'c1', masters: [master.address] });
    c2 = await fleet.start({ id: 'c2', masters: [master.address] });
    await writeChunk(fleet.client(c1.address), header({ handle: 500, version: 5, chain: [ref(c2)] }), data);
  });
  after(async () => {
    await fleet.stopAll();
    master.stop();
  });

  it('reads with a read token; refuses none, forged, expired, another chunk, another operation, another node', async () => {
    const client = fleet.client(c1.address);
    assert.ok((await readChunk(client, { handle: 500 }, testToken(500, 5, { ops: ['read'] }))).data.equals(data));
    const good = testToken(500, 5, { ops: ['read'] });
    const [id, payload, mac] = good.split('.');
    const flipped = `${id}.${payload}.${mac!.startsWith('A') ? 'B' : 'A'}${mac!.slice(1)}`;
    const cases: Array<[string, string, number, ErrorCode, RegExp]> = [
      ['no token', '', 500, ErrorCode.PERMISSION_DENIED, /no chunk access token/],
      ['forged signature', flipped, 500, ErrorCode.PERMISSION_DENIED, /bad signature/],
      ['expired', testToken(500, 5, { ops: ['read'], expiresMs: Date.now() - 1 }), 500, ErrorCode.TOKEN_EXPIRED, /expired/],
      ['replayed for another chunk', good, 501, ErrorCode.PERMISSION_DENIED, /is for chunk 500, not 501/],
      ['a write-only token', testToken(500, 5, { ops: ['write'] }), 500, ErrorCode.PERMISSION_DENIED, /does not allow read/],
      ['a token naming other nodes', testToken(500, 5, { ops: ['read'], nodes: ['c2'] }), 500, ErrorCode.PERMISSION_DENIED, /does not name chunkserver c1/],
      ['a token for a newer version (this replica is stale)', testToken(500, 6, { ops: ['read'] }), 500, ErrorCode.STALE_VERSION, /the token is for 6/],
    ];
    for (const [what, token, handle, code, re] of cases) {
      const e = await expectDfsError(readChunk(client, { handle }, token), code);
      assert.match(e.message, re, what);
      // ChunkInfo goes through the same gate; with no token it is given a malformed one.
      const info = await expectDfsError(chunkInfo(client, handle, token || 'x.y.z'), code);
      assert.match(info.message, token ? re : /malformed/, `${what} (ChunkInfo)`);
    }
  });

  it('a token signed with a key no master sent waits for the next heartbeat, then is refused', async () => {
    const started = Date.now();
    const e = await expectDfsError(readChunk(fleet.client(c1.address), { handle: 500 }, testToken(500, 5, { key: newChunkTokenKey(0, Date.now() + 60_000) })), ErrorCode.PERMISSION_DENIED);
    assert.match(e.message, /unknown key/);
    assert.ok(Date.now() - started >= 2_000, 'waited for the ring before refusing');
  });

  it('writes: the token binds the version and the pipeline; a committed replica is never overwritten; a stale token is refused', async () => {
    const client = fleet.client(c1.address);
    const w = (handle: number, version: number, over: Parameters<typeof testToken>[2] = {}): string => testToken(handle, version, { ops: ['write'], ...over });
    // Rewriting the committed replica under its own version, even with a valid write token.
    let e = await expectDfsError(writeChunk(client, header({ handle: 500, version: 5 }), data, BLOCK_SIZE, w(500, 5)), ErrorCode.PERMISSION_DENIED);
    assert.match(e.message, /committed here and is never overwritten/);
    // A token for another version than the header names.
    e = await expectDfsError(writeChunk(client, header({ handle: 502, version: 2 }), data, BLOCK_SIZE, w(502, 1)), ErrorCode.PERMISSION_DENIED);
    assert.match(e.message, /token is for version 1/);
    // A chain naming a node the token does not: the primary dials nobody it was not told to.
    e = await expectDfsError(writeChunk(client, header({ handle: 503, chain: [ref(c2)] }), data, BLOCK_SIZE, w(503, 1, { nodes: ['c1'] })), ErrorCode.PERMISSION_DENIED);
    assert.match(e.message, /names c2, which the token does not/);
    // A read token cannot write; a write token whose lease ran out cannot mutate.
    await expectDfsError(writeChunk(client, header({ handle: 504 }), data, BLOCK_SIZE, testToken(504, 1, { ops: ['read'] })), ErrorCode.PERMISSION_DENIED);
    await expectDfsError(writeChunk(client, header({ handle: 504 }), data, BLOCK_SIZE, w(504, 1, { leaseExpiryMs: Date.now() - 1 })), ErrorCode.LEASE_EXPIRED);
    // An append under a newer (granted) version is allowed; then the old version's token is stale.
    const more = seededBytes(100, 32);
    await writeChunk(client, header({ handle: 500, version: 7, chain: [ref(c2)], offset: data.length }), more, BLOCK_SIZE, w(500, 7));
    e = await expectDfsError(writeChunk(client, header({ handle: 500, version: 5, offset: data.length + more.length }), more, BLOCK_SIZE, w(500, 5)), ErrorCode.STALE_VERSION);
    assert.match(e.message, /stale token for version 5/);
    for (const cs of [c1, c2]) {
      const got = await readChunk(fleet.client(cs.address), { handle: 500 }, testToken(500, 7, { ops: ['read'] }));
      assert.ok(got.data.equals(Buffer.concat([data, more])), `${cs.id} holds the append`);
    }
    // Nothing was created by the refused writes.
    for (const h of [502, 503, 504]) await expectDfsError(chunkInfo(client, h), ErrorCode.UNKNOWN_CHUNK);
  });

  it('copies and deletes need their own operation', async () => {
    const src = ref(c1);
    const copy = (token: string): Promise<unknown> =>
      new Promise((res, rej) => fleet.client(c2.address).copyChunk({ handle: 500, version: 7, source: src }, tokenMetadata(token), (e, r) => (e ? rej(e) : res(r))));
    const e = await expectDfsError(copy(testToken(500, 7, { ops: ['copy'], nodes: ['c2'] })), ErrorCode.PERMISSION_DENIED);
    assert.match(e.message, /does not name source c1/);
    await expectDfsError(copy(testToken(500, 7, { ops: ['read'] })), ErrorCode.PERMISSION_DENIED);
    const del = (token: string): Promise<unknown> =>
      new Promise((res, rej) => fleet.client(c2.address).deleteChunk({ handle: 500 }, tokenMetadata(token), (e2) => (e2 ? rej(e2) : res(undefined))));
    await expectDfsError(del(testToken(500, 7, { ops: ['read', 'write', 'copy'] })), ErrorCode.PERMISSION_DENIED);
    await expectDfsError(del(testToken(500, 5, { ops: ['delete'] })), ErrorCode.STALE_VERSION);
    await del(testToken(500, 7, { ops: ['delete'] }));
    await expectDfsError(chunkInfo(fleet.client(c2.address), 500), ErrorCode.UNKNOWN_CHUNK);
  });
});
