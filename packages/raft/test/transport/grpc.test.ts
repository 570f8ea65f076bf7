import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { channelOptions, crc32cOf, RaftServiceClient, serverOptions, type InstallSnapshotResponse, type SnapshotPiece } from '@dfs/proto';
import { INSECURE, serverCredentials, channelCredentials } from '@dfs/security';
import { waitFor } from '@dfs/testkit';
import { GrpcTransport, MessageType, SNAPSHOT_PIECE, type Message } from '../../src/index.js';
import { message } from '../../src/core/types.js';
import { toWire } from '../../src/transport/codec.js';

/* The gRPC transport: message batches, snapshots in pieces, and a corrupt snapshot rejected. */
describe('GrpcTransport', function () {
  this.timeout(10_000);
  let dir: string;
  const servers: grpc.Server[] = [];
  const transports: GrpcTransport[] = [];

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'raft-transport-'))));
  afterEach(() => {
    transports.splice(0).forEach((t) => t.close());
    servers.splice(0).forEach((s) => s.forceShutdown());
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
  });

  type Got = { msgs: Message[]; snaps: Array<{ m: Message; path: string }>; sent: Array<[string, boolean]>; refused?: string[] };
  async function endpoint(id: string, got: Got, opts: { maxSnapshotBytes?: number; admit?: (m: Message) => string | undefined } = {}): Promise<{ t: GrpcTransport; address: string }> {
    const server = new grpc.Server(serverOptions());
    const t = new GrpcTransport({
      id,
      server,
      security: INSECURE,
      snapshotDir: dir,
      maxSnapshotBytes: opts.maxSnapshotBytes,
      handler: {
        onMessage: (m) => {
          const why = opts.admit?.(m);
          if (why) return { reason: 'stranger', detail: why };
          got.msgs.push(m);
          return undefined;
        },
        admitSnapshot: (m) => opts.admit?.(m),
        onRefused: (reason) => void got.refused?.push(reason),
        onSnapshot: (m, path) => got.snaps.push({ m, path }),
        onSnapshotSent: (to, ok) => got.sent.push([to, ok]),
        onUnreachable: () => undefined,
      },
    });
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', serverCredentials(INSECURE), (e, p) => (e ? rej(e) : res(p))));
    servers.push(server);
    transports.push(t);
    return { t, address: `127.0.0.1:${port}` };
  }

  const until = (cond: () => boolean): Promise<unknown> => waitFor('the transport to deliver', () => cond(), 5_000, 10);

  it('delivers batches of messages with their entries intact', async () => {
    const gotB = { msgs: [] as Message[], snaps: [], sent: [] };
    const a = await endpoint('a', { msgs: [], snaps: [], sent: [] });
    const b = await endpoint('b', gotB);
    a.t.setPeer('b', b.address);
    const entries = [{ term: 2, index: 7, type: 0, data: new Uint8Array([1, 2, 3]) }];
    a.t.send([message({ type: MessageType.Append, from: 'a', to: 'b', term: 2, index: 6, logTerm: 1, entries, commit: 5 }), message({ type: MessageType.Heartbeat, from: 'a', to: 'b', term: 2, context: 9 })]);
    await until(() => gotB.msgs.length === 2);
    assert.deepEqual(Array.from(gotB.msgs[0].entries[0].data), [1, 2, 3]);
    assert.equal(gotB.msgs[1].context, 9);
  });

  it('streams a snapshot in 256 KiB pieces and the receiver gets an identical, verified file', async () => {
    const gotB = { msgs: [] as Message[], snaps: [] as Array<{ m: Message; path: string }>, sent: [] };
    const gotA = { msgs: [], snaps: [], sent: [] as Array<[string, boolean]> };
    const a = await endpoint('a', gotA);
    const b = await endpoint('b', gotB);
    a.t.setPeer('b', b.address);
    const file = join(dir, 'src.db');
    const data = Buffer.alloc(3 * SNAPSHOT_PIECE + 1234);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 255;
    writeFileSync(file, data);
    const snapshot = { index: 40, term: 3, conf: [{ id: 'a', address: 'x', voter: true }] };
    a.t.sendSnapshot(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 3, snapshot }), file);
    await until(() => gotA.sent.length === 1);
    assert.deepEqual(gotA.sent[0], ['b', true]);
    assert.equal(gotB.snaps.length, 1);
    assert.deepEqual(gotB.snaps[0].m.snapshot, snapshot);
    assert.ok(readFileSync(gotB.snaps[0].path).equals(data));
  });

  it('rejects a snapshot whose checksum does not match, and never steps it', async () => {
    const gotB = { msgs: [] as Message[], snaps: [] as Array<{ m: Message; path: string }>, sent: [] };
    const b = await endpoint('b', gotB);
    const client = new RaftServiceClient(b.address, channelCredentials(INSECURE), channelOptions());
    const snapshot = { index: 4, term: 1, conf: [] };
    const err = await sendPieces(client, [
      { header: toWire(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 1, snapshot })), data: Buffer.from('hello'), last: false, crc32c: 0, size: 0 },
      { header: undefined, data: Buffer.alloc(0), last: true, crc32c: 12345, size: 5 },
    ]);
    client.close();
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(err?.details ?? '', /checksum/);
    assert.equal(gotB.snaps.length, 0);
  });

  function sendPieces(client: RaftServiceClient, pieces: SnapshotPiece[]): Promise<grpc.ServiceError | undefined> {
    return new Promise((resolve) => {
      const call = client.installSnapshot((err: grpc.ServiceError | null, _r?: InstallSnapshotResponse) => resolve(err ?? undefined));
      call.on('error', () => undefined);
      for (const p of pieces) call.write(p);
      call.end();
    });
  }

  it('refuses an oversized snapshot with a typed error, counted, and keeps no file', async () => {
    const gotB: Got = { msgs: [], snaps: [], sent: [], refused: [] };
    const b = await endpoint('b', gotB, { maxSnapshotBytes: 1000 });
    const client = new RaftServiceClient(b.address, channelCredentials(INSECURE), channelOptions());
    const snapshot = { index: 4, term: 1, conf: [{ id: 'a', address: 'x', voter: true }] };
    const err = await sendPieces(client, [
      { header: toWire(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 1, snapshot })), data: Buffer.alloc(800), last: false, crc32c: 0, size: 0 },
      { header: undefined, data: Buffer.alloc(800), last: false, crc32c: 0, size: 0 },
      { header: undefined, data: Buffer.alloc(0), last: true, crc32c: 0, size: 1600 },
    ]);
    client.close();
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(gotB.refused, ['oversized-snapshot']);
    assert.equal(gotB.snaps.length, 0);
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('incoming-')), []);
  });

  it('refuses a stranger\'s snapshot before writing a byte, and ends a stranger\'s stream with PERMISSION_DENIED', async () => {
    const gotB: Got = { msgs: [], snaps: [], sent: [], refused: [] };
    const b = await endpoint('b', gotB, { admit: (m) => (m.from === 'a' ? undefined : `${m.from} is not a member`) });
    const client = new RaftServiceClient(b.address, channelCredentials(INSECURE), channelOptions());
    const snapshot = { index: 4, term: 1, conf: [{ id: 'x', address: 'x', voter: true }] };
    const err = await sendPieces(client, [
      { header: toWire(message({ type: MessageType.Snapshot, from: 'x', to: 'b', term: 1, snapshot })), data: Buffer.alloc(10), last: true, crc32c: crc32cOf(Buffer.alloc(10)), size: 10 },
    ]);
    assert.equal(err?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(gotB.snaps.length, 0);
    const streamErr = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.stream((e: grpc.ServiceError | null) => resolve(e));
      call.on('error', () => undefined);
      call.write({ messages: [toWire(message({ type: MessageType.Heartbeat, from: 'x', to: 'b', term: 1 << 30 }))] });
    });
    client.close();
    assert.equal(streamErr?.code, grpc.status.PERMISSION_DENIED);
    assert.equal(gotB.msgs.length, 0);
  });
});
