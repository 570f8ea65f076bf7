import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Server, Metadata, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import pino from 'pino';
import {
  ChunkServiceClient,
  ChunkServiceService,
  ChunkInfoRequest,
  ChunkInfoResponse,
  DfsError,
  ErrorCode,
  ReadChunkRequest,
  ReadChunkResponse,
  channelOptions,
  serverOptions,
} from '@dfs/proto';
import { INSECURE, serverCredentials, channelCredentials } from '@dfs/security';
import { Metrics, instrumentService, REQUEST_ID_KEY, startHttp } from '../src/index.js';

describe('instrumentService', () => {
  it('counts calls by method and code, logs request ids, and serves /metrics', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => { lines.push(c.toString()); cb(); } }));
    const metrics = new Metrics('chunkserver', 'c9');
    const server = new Server(serverOptions());
    server.addService(
      ChunkServiceService,
      instrumentService('ChunkService', ChunkServiceService, {
        chunkInfo: (call: ServerUnaryCall<ChunkInfoRequest, ChunkInfoResponse>, cb: sendUnaryData<ChunkInfoResponse>) => {
          if (call.request.handle === 0) return cb(new DfsError(ErrorCode.UNKNOWN_CHUNK, 'no chunk 0').toServiceError());
          cb(null, ChunkInfoResponse.fromPartial({ handle: call.request.handle }));
        },
        readChunk: (call: ServerWritableStream<ReadChunkRequest, ReadChunkResponse>) => {
          call.write(ReadChunkResponse.fromPartial({ offset: 0, data: Buffer.from('x') }));
          call.end();
        },
      }, metrics, log),
    );
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', serverCredentials(INSECURE), (e, p) => (e ? rej(e) : res(p))));
    const client = new ChunkServiceClient(`127.0.0.1:${port}`, channelCredentials(INSECURE), channelOptions());
    const http = await startHttp('127.0.0.1:0', metrics);
    try {
      const md = new Metadata();
      md.set(REQUEST_ID_KEY, 'req-42');
      await new Promise<void>((res, rej) => client.chunkInfo({ handle: 5 }, md, (e) => (e ? rej(e) : res())));
      await new Promise<void>((res) => client.chunkInfo({ handle: 0 }, () => res()));
      await new Promise<void>((res, rej) => {
        const s = client.readChunk(ReadChunkRequest.fromPartial({ handle: 1 }));
        s.on('data', () => undefined);
        s.on('end', () => res());
        s.on('error', rej);
      });
      const text = await (await fetch(`http://${http.address}/metrics`)).text();
      assert.match(text, /dfs_rpc_total\{service="ChunkService",method="ChunkInfo",code="OK",component="chunkserver",node="c9"\} 1/);
      assert.match(text, /dfs_rpc_total\{service="ChunkService",method="ChunkInfo",code="UNKNOWN_CHUNK"[^}]*\} 1/);
      assert.match(text, /dfs_rpc_total\{service="ChunkService",method="ReadChunk",code="OK"[^}]*\} 1/);
      assert.match(text, /dfs_process_resident_memory_bytes/);
      assert.ok(lines.some((l) => l.includes('"requestId":"req-42"')), 'request id logged');
      assert.equal((await fetch(`http://${http.address}/healthz`)).status, 200);
    } finally {
      client.close();
      server.forceShutdown();
      await http.close();
    }
  });
});
