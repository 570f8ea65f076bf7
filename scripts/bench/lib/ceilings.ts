import { spawn, execFileSync } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import {
  Client,
  Metadata,
  Server,
  type ServiceDefinition,
  type ServerWritableStream,
  type ServerReadableStream,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  READ_HEADROOM,
  channelOptions,
  dataChannelOptions,
  installPreframedMessages,
  preframe,
  serverOptions,
  widenServerWindows,
} from '@dfs/proto';
import { INSECURE, requireRole, serverCredentials, channelCredentials, tlsFrom, type Security } from '@dfs/security';
import { cpuSecondsOf, ownCpuSeconds } from './cpu.js';

/*
 * The machine's own ceilings, measured in the same run as the dfs figures:
 * disk write with fdatasync, loopback TCP between two processes, and a tuned grpc-js
 * stream between two processes in each direction (see `grpcStreamCeilings`), plaintext and
 * over mutual TLS (the same certificates dfs uses), which bounds what TLS can cost the data path.
 */

const MB = 1e6;

/**
 * Drops the kernel's page cache (needs root), as the peers' measurements do before reading.
 * Returns false when it cannot, so a figure measured warm says so.
 */
export function dropCaches(): boolean {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

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
function startSinkChild(kind: 'tcp' | 'grpc', tlsDir?: string): Promise<{ port: number; pid: number; kill: () => void }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [__filename, `${kind}-sink`, ...(tlsDir ? [tlsDir] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.once('data', (d: Buffer) => resolve({ port: Number(d.toString().trim()), pid: child.pid!, kill: () => child.kill('SIGKILL') }));
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

/** 1 MiB messages: large enough that per-message costs vanish, as in the measurement. */
const CEILING_MESSAGE = 1024 * 1024;
const raw = (b: Buffer): Buffer => b;
const UPLOAD_PATH = '/dfs.bench.Sink/Upload';
const DOWNLOAD_PATH = '/dfs.bench.Sink/Download';
const PIECE_PATH = '/dfs.bench.Sink/Piece';
/** A sink service with raw Buffer serializers: no protobuf in the measurement. */
const SINK_SERVICE = {
  upload: { path: UPLOAD_PATH, requestStream: true, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  download: { path: DOWNLOAD_PATH, requestStream: false, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  piece: { path: PIECE_PATH, requestStream: false, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} satisfies ServiceDefinition;

/** The library get's read pattern (client file-reader.ts): one call per 64 MiB chunk, one at a time. */
const GET_PIECE_BYTES = 64 * 1024 * 1024;
const GET_PIECES_IN_FLIGHT = 1;

export interface GrpcCeilings {
  /** Client → server (what a put's hops do), with the server's receive window widened as the chunkservers do. */
  uploadMBps: number;
  /** Server → client (what a get does), with the client window at 64 MiB. */
  downloadMBps: number;
  /** CPU seconds per GiB the download cost each end: what the transport alone costs. */
  downloadCpuPerGiB: { client: number; server: number };
}

/**
 * The tuned ceiling of one grpc-js stream between two processes: raw Buffer serializers,
 * 1 MiB messages, the data path's HTTP/2 windows in both directions. The data path cannot
 * beat this on the same machine; an untuned stream (64 KiB window, protobuf copies) can be
 * beaten, which would make ratios against it flatter the data path. `security`: plaintext,
 * or a credentials directory (a node certificate for 127.0.0.1) both ends use.
 */
export async function grpcStreamCeilings(bytes = 1024 ** 3, security: Security = INSECURE): Promise<GrpcCeilings> {
  const sink = await startSinkChild('grpc', security.insecure ? undefined : security.dir);
  // 64 MiB, as the measurement (745 MB/s quiet); the data path itself uses DATA_CHANNEL_WINDOW.
  const client = new Client(`127.0.0.1:${sink.port}`, channelCredentials(security), { ...channelOptions(), ...dataChannelOptions(64 * 1024 * 1024) });
  try {
    const message = Buffer.alloc(CEILING_MESSAGE, 1);
    let started = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const call = client.makeClientStreamRequest<Buffer, Buffer>(UPLOAD_PATH, raw, raw, new Metadata(), {}, (err) => (err ? reject(err) : resolve()));
      writeRepeated(call, message, bytes);
    });
    const uploadMBps = bytes / MB / (Number(process.hrtime.bigint() - started) / 1e9);
    const request = Buffer.alloc(8);
    request.writeDoubleLE(bytes);
    const cpuBefore = { client: ownCpuSeconds(), server: cpuSecondsOf(sink.pid) };
    started = process.hrtime.bigint();
    let got = 0;
    for await (const m of client.makeServerStreamRequest<Buffer, Buffer>(DOWNLOAD_PATH, raw, raw, request, new Metadata(), {})) {
      got += (m as Buffer).length;
    }
    if (got < bytes) throw new Error(`ceiling download got ${got} of ${bytes} bytes`);
    const downloadMBps = bytes / MB / (Number(process.hrtime.bigint() - started) / 1e9);
    const perGiB = (secs: number): number => (secs * 1024 ** 3) / bytes;
    const downloadCpuPerGiB = { client: perGiB(ownCpuSeconds() - cpuBefore.client), server: perGiB(cpuSecondsOf(sink.pid) - cpuBefore.server) };
    return { uploadMBps, downloadMBps, downloadCpuPerGiB };
  } finally {
    client.close();
    sink.kill();
  }
}

/**
 * The bare transport of a library get, with everything of the data path but the chunk store:
 * the client's chunkserver channel (its options and window), the chunkserver's server (options,
 * widened windows, pre-framed messages), calls of GET_PIECE_BYTES with GET_PIECES_IN_FLIGHT in
 * flight, each authenticated from its certificate as ReadChunk is, each answered in 1 MiB
 * messages built in fresh buffers with headroom (as a disk read fills them). Measured with TLS
 * and in plaintext, its CPU per GiB says what TLS costs the transport of a get when nothing
 * else (disk, checksums, tokens) is counted. `pattern` varies the call size and calls in flight
 * (make bench-get-pattern takes the pattern apart).
 */
export interface GetPattern {
  /** Bytes each call carries (the client's piece). */
  callBytes: number;
  /** Calls kept in flight at once, on one connection. */
  inFlight: number;
  /** The client channel's receive window (default: the data path's, DATA_CHANNEL_WINDOW). */
  window?: number;
}

export interface GetPatternFigures {
  MBps: number;
  cpuPerGiB: { client: number; server: number };
  deliveriesPerMiB: number | undefined;
  /** The client's garbage-collection pauses per GiB (ms) and its peak RSS (MiB) during the run. */
  gcMsPerGiB: number;
  peakRssMiB: number;
}

export async function grpcGetPatternCeiling(
  bytes = 1024 ** 3,
  security: Security = INSECURE,
  pattern: GetPattern = { callBytes: GET_PIECE_BYTES, inFlight: GET_PIECES_IN_FLIGHT },
): Promise<GetPatternFigures> {
  const { callBytes, inFlight } = pattern;
  const sink = await startSinkChild('grpc', security.insecure ? undefined : security.dir);
  const client = new Client(`127.0.0.1:${sink.port}`, channelCredentials(security), { ...channelOptions(), ...dataChannelOptions(pattern.window) });
  const piece = async (length: number): Promise<void> => {
    const request = Buffer.alloc(8);
    request.writeDoubleLE(length);
    let got = 0;
    for await (const m of client.makeServerStreamRequest<Buffer, Buffer>(PIECE_PATH, raw, raw, request, new Metadata(), {})) got += (m as Buffer).length;
    if (got !== length) throw new Error(`ceiling piece got ${got} of ${length} bytes`);
  };
  const deliveries = countDataDeliveries();
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  let peakRss = 0;
  const rss = setInterval(() => void (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 50);
  try {
    await piece(GET_PIECE_BYTES); // connected and warm, as the client's pooled channel is
    deliveries.reset();
    gc.observe({ entryTypes: ['gc'] });
    const cpuBefore = { client: ownCpuSeconds(), server: cpuSecondsOf(sink.pid) };
    const started = process.hrtime.bigint();
    let left = Math.ceil(bytes / callBytes);
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (left-- > 0) await piece(callBytes);
      }),
    );
    const moved = Math.ceil(bytes / callBytes) * callBytes;
    const perGiB = (secs: number): number => (secs * 1024 ** 3) / moved;
    const cpuPerGiB = { client: perGiB(ownCpuSeconds() - cpuBefore.client), server: perGiB(cpuSecondsOf(sink.pid) - cpuBefore.server) };
    const MBps = moved / MB / (Number(process.hrtime.bigint() - started) / 1e9);
    gc.disconnect();
    return {
      MBps,
      cpuPerGiB,
      deliveriesPerMiB: deliveries.count === undefined ? undefined : deliveries.count / (moved / 1024 ** 2),
      gcMsPerGiB: perGiB(gcMs),
      peakRssMiB: Math.max(peakRss, process.memoryUsage.rss()) / 1024 ** 2,
    };
  } finally {
    clearInterval(rss);
    gc.disconnect();
    deliveries.stop();
    client.close();
    sink.kill();
  }
}

/**
 * Counts the pieces of response bytes grpc-js hands its message decoder (one per HTTP/2 DATA
 * chunk Node delivers to JavaScript): each costs a native-to-JS callback, a stream push and a
 * decoder step. Bench-only look into a grpc-js internal; count is undefined if it moved.
 */
function countDataDeliveries(): { readonly count: number | undefined; reset(): void; stop(): void } {
  type Decoder = { prototype: { write(data: Buffer): Buffer[] } };
  let decoder: Decoder | undefined;
  try {
    decoder = (require('@grpc/grpc-js/build/src/stream-decoder.js') as { StreamDecoder?: Decoder }).StreamDecoder;
  } catch {
    decoder = undefined;
  }
  if (!decoder || typeof decoder.prototype.write !== 'function') return { count: undefined, reset: () => undefined, stop: () => undefined };
  const proto = decoder.prototype;
  const original = proto.write;
  let count = 0;
  proto.write = function (this: unknown, data: Buffer): Buffer[] {
    count++;
    return original.call(this, data);
  };
  return {
    get count() {
      return count;
    },
    reset: () => void (count = 0),
    stop: () => void (proto.write = original),
  };
}

/** Writes `message` until `bytes` are sent, waiting for 'drain' when the stream is full, then ends it. */
function writeRepeated(stream: { write(chunk: Buffer): boolean; once(event: 'drain', listener: () => void): unknown; end(): void }, message: Buffer, bytes: number): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < bytes) {
      sent += message.length;
      if (!stream.write(message)) return void stream.once('drain', pump);
    }
    stream.end();
  };
  pump();
}

function runTcpSink(): void {
  const server = createServer((socket) => socket.on('data', () => undefined));
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    process.stdout.write(`${typeof addr === 'object' && addr ? addr.port : 0}\n`);
  });
}

function runGrpcSink(tlsDir: string | undefined): void {
  const server = new Server(serverOptions());
  const message = Buffer.alloc(CEILING_MESSAGE, 2);
  installPreframedMessages();
  server.addService(SINK_SERVICE, {
    piece: (call: ServerWritableStream<Buffer, Buffer>) => {
      requireRole(call, 'Piece', ['client', 'admin', 'master', 'chunkserver']);
      const total = call.request.readDoubleLE(0);
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          const len = Math.min(CEILING_MESSAGE, total - sent);
          const buf = Buffer.allocUnsafe(READ_HEADROOM + len);
          message.copy(buf, READ_HEADROOM, 0, len);
          sent += len;
          if (!call.write(preframe(buf.subarray(READ_HEADROOM)))) return void call.once('drain', pump);
        }
        call.end();
      };
      pump();
    },
    upload: (call: ServerReadableStream<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
      call.on('data', () => undefined);
      call.on('end', () => cb(null, Buffer.alloc(0)));
    },
    download: (call: ServerWritableStream<Buffer, Buffer>) => {
      writeRepeated(call, message, call.request.readDoubleLE(0));
    },
  });
  server.bindAsync('127.0.0.1:0', serverCredentials(tlsDir ? tlsFrom(tlsDir) : INSECURE), (err, port) => {
    if (err) throw err;
    if (!widenServerWindows(server)) process.stderr.write('bench: cannot widen the sink server window\n');
    process.stdout.write(`${port}\n`);
  });
}

if (require.main === module) {
  if (process.argv[2] === 'tcp-sink') runTcpSink();
  else if (process.argv[2] === 'grpc-sink') runGrpcSink(process.argv[3]);
}
