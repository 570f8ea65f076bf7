import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client, Metadata, Server, ServerCredentials, credentials, type ServerWritableStream, type ServiceDefinition } from '@grpc/grpc-js';
import { installPreframedMessages, preframe } from '../src/index.js';

/*
 * A preframed message goes out of a grpc-js server from its own buffer (its gRPC prefix written
 * into the room in front of it), byte-identical to what grpc-js's copying path sends.
 */
const raw = (b: Buffer): Buffer => b;
const SERVICE = {
  stream: { path: '/dfs.test.Preframed/Stream', requestStream: false, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} satisfies ServiceDefinition;

describe('preframed messages', () => {
  it('are sent in place, byte-identical to copied ones, mixed on one stream', async () => {
    assert.equal(installPreframedMessages(), true, 'grpc-js internals as expected');
    const mod = require('@grpc/grpc-js/build/src/server-interceptors.js') as { BaseServerInterceptingCall: { prototype: { serializeMessage(v: unknown): Buffer } } };
    const payloads = [randomBytes(1024 * 1024), randomBytes(10), Buffer.alloc(0), randomBytes(70_000)];
    const withRoom = payloads.map((p) => Buffer.concat([Buffer.alloc(64, 0xee), p]).subarray(64));
    // In place: the framed message is a view of the same memory, prefix just in front.
    const framed = mod.BaseServerInterceptingCall.prototype.serializeMessage.call({}, preframe(withRoom[0]!));
    assert.equal(framed.buffer, withRoom[0]!.buffer);
    assert.equal(framed.readUInt32BE(1), payloads[0]!.length);

    const server = new Server();
    server.addService(SERVICE, {
      stream: (call: ServerWritableStream<Buffer, Buffer>) => {
        withRoom.forEach((m, i) => call.write(i % 2 === 0 ? preframe(m) : Buffer.from(m)));
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const got: Buffer[] = [];
      for await (const m of client.makeServerStreamRequest<Buffer, Buffer>(SERVICE.stream.path, raw, raw, Buffer.alloc(0), new Metadata(), {})) got.push(m as Buffer);
      assert.equal(got.length, payloads.length);
      got.forEach((m, i) => assert.ok(m.equals(payloads[i]!), `message ${i}`));
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
