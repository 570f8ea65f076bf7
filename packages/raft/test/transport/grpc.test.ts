import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { channelOptions, RaftServiceClient, serverOptions, type InstallSnapshotResponse, type SnapshotPiece } from '@dfs/proto';
import { INSECURE, serverCredentials, channelCredentials } from '@dfs/security';
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
    rmSync(dir, { recursive: true, force: true });
  });

  async function endpoint(id: string, got: { msgs: Message[]; snaps: Array<{ m: Message; path: string }>; sent: Array<[string, boolean]> }): Promise<{ t: GrpcTransport; address: string }> {
    const server = new grpc.Server(serverOptions());
    const t = new GrpcTransport({
      id,
      server,
      security: INSECURE,
      isMember: () => true,
      snapshotDir: dir,
      handler: {
        onMessage: (m) => got.msgs.push(m),
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

  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cond(), 'timed out');
  };

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
    const res = await new Promise<InstallSnapshotResponse | undefined>((resolve) => {
      const call = client.installSnapshot((err: grpc.ServiceError | null, r?: InstallSnapshotResponse) => resolve(err ? undefined : r));
      const header = toWire(message({ type: MessageType.Snapshot, from: 'a', to: 'b', term: 1, snapshot }));
      const pieces: SnapshotPiece[] = [
        { header, data: Buffer.from('hello'), last: false, crc32c: 0, size: 0 },
        { header: undefined, data: Buffer.alloc(0), last: true, crc32c: 12345, size: 5 },
      ];
      for (const p of pieces) call.write(p);
      call.end();
    });
    client.close();
    assert.equal(res?.accepted, false);
    assert.match(res?.error ?? '', /checksum/);
    assert.equal(gotB.snaps.length, 0);
  });
});
