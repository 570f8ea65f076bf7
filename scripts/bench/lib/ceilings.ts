import { spawn, execFileSync } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Server, type ServerWritableStream, type ServerReadableStream, type sendUnaryData } from '@grpc/grpc-js';
import {
  ChunkServiceService,
  ChunkServiceClient,
  channelOptions,
  serverOptions,
  BLOCK_SIZE,
  type WriteChunkRequest,
  type WriteChunkResponse,
  type ReadChunkRequest,
  type ReadChunkResponse,
} from '@dfs/proto';
import { INSECURE, serverCredentials, channelCredentials } from '@dfs/security';

/*
 * The machine's own ceilings, measured in the same run as the dfs figures:
 * disk write with fdatasync, loopback TCP between two processes, and a bare
 * grpc-js stream of 64 KiB messages between two processes.
 */

const MB = 1e6;

export function diskWriteMBps(dir: string, mib = 1024): number {
  const file = join(dir, 'dd-ceiling.bin');
  try {
    const started = process.hrtime.bigint();
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', `count=${mib}`, 'conv=fdatasync'], { stdio: 'ignore' });
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    return (mib * 1024 * 1024) / MB / secs;
  } finally {
    rmSync(file, { force: true });
  }
}

/** Runs this module in a child process as a sink server; resolves with its port. */
function startSinkChild(kind: 'tcp' | 'grpc'): Promise<{ port: number; kill: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, `${kind}-sink`], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', (d: Buffer) => resolve({ port: Number(d.toString().trim()), kill: () => child.kill('SIGKILL') }));
    child.once('error', reject);
  });
}

export async function loopbackTcpMBps(bytes = 2 * 1024 ** 3): Promise<number> {
  const sink = await startSinkChild('tcp');
  try {
    const block = Buffer.alloc(256 * 1024, 1);
    const started = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const socket = createConnection(sink.port, '127.0.0.1');
      socket.once('error', reject);
      let sent = 0;
      const pump = (): void => {
        while (sent < bytes) {
          sent += block.length;
          if (!socket.write(block)) return void socket.once('drain', pump);
        }
        socket.end();
      };
      socket.once('connect', pump);
      socket.once('close', () => resolve());
    });
    return bytes / MB / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    sink.kill();
  }
}

export async function grpcStreamMBps(bytes = 1024 ** 3): Promise<number> {
  const sink = await startSinkChild('grpc');
  const client = new ChunkServiceClient(`127.0.0.1:${sink.port}`, channelCredentials(INSECURE), channelOptions());
  try {
    const frame = Buffer.alloc(BLOCK_SIZE, 1);
    const started = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const call = client.writeChunk((err) => (err ? reject(err) : resolve()));
      let sent = 0;
      const pump = (): void => {
        while (sent < bytes) {
          sent += frame.length;
          if (!call.write({ msg: { $case: 'frame', value: { data: frame, crc32c: 0 } } })) return void call.once('drain', pump);
        }
        call.end();
      };
      pump();
    });
    return bytes / MB / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    client.close();
    sink.kill();
  }
}

function runTcpSink(): void {
  const server = createServer((socket) => socket.on('data', () => undefined));
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
  });
}

function runGrpcSink(): void {
  const server = new Server(serverOptions());
  server.addService(ChunkServiceService, {
    writeChunk: (call: ServerReadableStream<WriteChunkRequest, WriteChunkResponse>, cb: sendUnaryData<WriteChunkResponse>) => {
      let length = 0;
      call.on('data', (m: WriteChunkRequest) => {
        if (m.msg?.$case === 'frame') length += m.msg.value.data.length;
      });
      call.on('end', () => cb(null, { length, crc32c: 0, replicas: [] }));
    },
    readChunk: (call: ServerWritableStream<ReadChunkRequest, ReadChunkResponse>) => call.end(),
    copyChunk: (_c: unknown, cb: sendUnaryData<never>) => cb({ code: 12 }),
    deleteChunk: (_c: unknown, cb: sendUnaryData<never>) => cb({ code: 12 }),
    chunkInfo: (_c: unknown, cb: sendUnaryData<never>) => cb({ code: 12 }),
  });
  server.bindAsync('127.0.0.1:0', serverCredentials(INSECURE), (err, port) => {
    if (err) throw err;
    process.stdout.write(`${port}\n`);
  });
}

if (require.main === module) {
  if (process.argv[2] === 'tcp-sink') runTcpSink();
  else if (process.argv[2] === 'grpc-sink') runGrpcSink();
}
