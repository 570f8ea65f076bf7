import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, Server, type ServiceError, type handleUnaryCall } from '@grpc/grpc-js';
import {
  BLOCK_SIZE,
  CHUNK_TOKEN_KEY,
  ChunkServiceClient,
  ChunkserverControlServiceService,
  DfsError,
  ErrorCode,
  MasterServiceService,
  channelOptions,
  crc32cOf,
  serverOptions,
  toDfsError,
  type ChunkInfoResponse,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type ReadChunkRequest,
  type ReadChunkResponse,
  type RegisterRequest,
  type RegisterResponse,
  type ReportBadReplicaRequest,
  type ReportBadReplicaResponse,
  type WriteChunkResponse,
  type WriteHeader,
  type ChunkserverRef,
  framePieces,
  WRITE_CHUNK_PATH,
  decodeWriteResponse,
  encodeWriteRequest,
} from '@dfs/proto';
import { INSECURE, serverCredentials, channelCredentials, mintChunkToken, type ChunkOp, type ChunkTokenKey } from '@dfs/security';
import { startChunkserver, type ChunkserverOptions, type RunningChunkserver } from '../src/index.js';

/** A temp directory removed by `cleanup`. */
export async function tempDir(prefix = 'dfs-cs-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** The chunk-token key every FakeMaster hands out (a real master's ring is in its Raft state). */
export const TEST_KEY: ChunkTokenKey = { id: 'testkey', secret: Buffer.alloc(32, 7), activeFromMs: 0, expiresMs: 8_000_000_000_000 };
/** Every chunkserver id a Fleet started: the test tokens name them all. */
const FLEET_IDS = new Set<string>();

/** A token a master would sign: all operations on `handle` at `version`, on every fleet node. */
export function testToken(handle: number, version = 0, opts: { ops?: ChunkOp[]; nodes?: string[]; expiresMs?: number; leaseExpiryMs?: number; key?: ChunkTokenKey } = {}): string {
  return mintChunkToken(opts.key ?? TEST_KEY, {
    handle,
    version,
    ops: opts.ops ?? ['read', 'write', 'copy', 'delete'],
    nodes: opts.nodes ?? [...FLEET_IDS],
    user: 'tester',
    expiresMs: opts.expiresMs ?? Date.now() + 600_000,
    leaseExpiryMs: opts.leaseExpiryMs ?? 0,
  });
}

export function tokenMetadata(token: string): Metadata {
  const md = new Metadata();
  md.set(CHUNK_TOKEN_KEY, token);
  return md;
}

/** Where a running test chunkserver is, as a write chain or a copy source names it. */
export const ref = (cs: RunningChunkserver): ChunkserverRef => ({ id: cs.id, address: cs.address, rack: '' });

/**
 * A fake master leader: ChunkserverControlService + ReportBadReplica, recording what arrives.
 * `heartbeatReply` decides each heartbeat's answer; `notLeaderOf` turns it into a follower.
 */
export class FakeMaster {
  readonly registers: RegisterRequest[] = [];
  readonly heartbeats: HeartbeatRequest[] = [];
  readonly badReplicas: ReportBadReplicaRequest[] = [];
  heartbeatReply: (req: HeartbeatRequest) => Partial<HeartbeatResponse> = () => ({});
  /** When set, every call fails with NOT_LEADER naming this address. */
  notLeaderOf?: string;
  /** When true, calls are never answered (a SIGSTOPped master). */
  silent = false;
  /** Whether its answers say it leads (only a leader's commands are obeyed). */
  leader = true;
  address = '';
  private server = new Server(serverOptions());

  async start(): Promise<this> {
    const guard = <Req, Res>(fn: (req: Req) => Res): handleUnaryCall<Req, Res> => (call, cb) => {
      if (this.silent) return;
      if (this.notLeaderOf !== undefined) {
        cb(new DfsError(ErrorCode.NOT_LEADER, 'not the leader', { leader: this.notLeaderOf }).toServiceError() as ServiceError);
        return;
      }
      try {
        cb(null, fn(call.request));
      } catch (err) {
        cb(toDfsError(err).toServiceError() as ServiceError);
      }
    };
    this.server.addService(ChunkserverControlServiceService, {
      register: guard<RegisterRequest, RegisterResponse>((req) => {
        this.registers.push(req);
        return { leaderAddress: this.address, leader: this.leader, chunkKeys: [TEST_KEY] };
      }),
      heartbeat: guard<HeartbeatRequest, HeartbeatResponse>((req) => {
        this.heartbeats.push(req);
        return { reregister: false, deleteHandles: [], replicate: [], leader: this.leader, chunkKeys: [TEST_KEY], term: 0, ...this.heartbeatReply(req) };
      }),
    });
    this.server.addService(MasterServiceService, {
      reportBadReplica: guard<ReportBadReplicaRequest, ReportBadReplicaResponse>((req) => {
        this.badReplicas.push(req);
        return {};
      }),
    });
    const port = await new Promise<number>((res, rej) =>
      this.server.bindAsync('127.0.0.1:0', serverCredentials(INSECURE), (err, p) => (err ? rej(err) : res(p))),
    );
    this.address = `127.0.0.1:${port}`;
    return this;
  }

  /** Handles reported by chunkserver `id` in registrations and heartbeats. */
  reported(id: string): Set<number> {
    const s = new Set<number>();
    for (const r of this.registers) if (r.id === id) for (const x of r.replicas) s.add(x.handle);
    for (const h of this.heartbeats) if (h.id === id) for (const x of h.newReplicas) s.add(x.handle);
    return s;
  }

  corruptReported(id: string): Set<number> {
    const s = new Set<number>();
    for (const h of this.heartbeats) if (h.id === id) for (const x of h.corruptHandles) s.add(x);
    for (const b of this.badReplicas) if (b.chunkserverId === id) s.add(b.handle);
    return s;
  }

  stop(): void {
    this.server.forceShutdown();
  }
}

/** Starts chunkservers and stops them all in `stopAll`. */
export class Fleet {
  readonly servers: RunningChunkserver[] = [];
  readonly dirs: string[] = [];
  private clients = new Map<string, ChunkServiceClient>();

  async start(opts: Partial<ChunkserverOptions> & { id: string; masters: string[] }): Promise<RunningChunkserver> {
    const dir = opts.dir ?? (await tempDir());
    if (!opts.dir) this.dirs.push(dir);
    FLEET_IDS.add(opts.id);
    const cs = await startChunkserver({ listen: '127.0.0.1:0', security: INSECURE, heartbeatMs: 50, logLevel: 'silent', ...opts, dir });
    this.servers.push(cs);
    return cs;
  }

  client(address: string): ChunkServiceClient {
    let c = this.clients.get(address);
    if (!c) {
      c = new ChunkServiceClient(address, channelCredentials(INSECURE), channelOptions());
      this.clients.set(address, c);
    }
    return c;
  }

  async stopAll(): Promise<void> {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    await Promise.all(this.servers.splice(0).map((s) => s.stop()));
    await Promise.all(this.dirs.splice(0).map(removeDir));
  }
}

export type WriteMessage = { header: WriteHeader } | { frame: { data: Buffer; crc32c: number; pieceCrc32cs?: number[] } } | { bytes: Buffer };

/**
 * Streams a WriteChunk call: `messages` as given (for malformed-input tests; `bytes` go on the
 * wire as they are), with a token for the header's chunk and version unless `token` is given
 * ('' = none).
 */
export function writeRaw(client: ChunkServiceClient, messages: WriteMessage[], token?: string): Promise<WriteChunkResponse> {
  const first = messages[0];
  const h = first && 'header' in first ? first.header : undefined;
  const t = token ?? (h ? testToken(h.handle, h.version) : '');
  return new Promise((resolve, reject) => {
    const call = client.makeClientStreamRequest<Buffer, WriteChunkResponse>(
      WRITE_CHUNK_PATH,
      (b: Buffer) => b,
      decodeWriteResponse,
      t ? tokenMetadata(t) : new Metadata(),
      { deadline: Date.now() + 20_000 },
      (err, resp) => (err || !resp ? reject(err) : resolve(resp)),
    );
    for (const m of messages) {
      if ('bytes' in m) call.write(m.bytes);
      else if ('header' in m) call.write(encodeWriteRequest({ msg: { $case: 'header', value: m.header } }));
      else call.write(encodeWriteRequest({ msg: { $case: 'frame', value: { pieceCrc32cs: [], ...m.frame } } }));
    }
    call.end();
  });
}

export function header(h: Partial<WriteHeader> & { handle: number }): WriteHeader {
  return { version: 1, chain: [], requestId: '', chunkSize: 64 * 1024 * 1024, offset: 0, leaseExpiryMs: 0, ...h };
}

/** Frames `data` into BLOCK_SIZE-or-smaller frames with correct CRCs. */
export function frames(data: Buffer, frameSize = BLOCK_SIZE): WriteMessage[] {
  const out: WriteMessage[] = [];
  for (let off = 0; off < data.length; off += frameSize) {
    const d = data.subarray(off, Math.min(off + frameSize, data.length));
    out.push({ frame: { data: d, crc32c: crc32cOf(d) } });
  }
  return out;
}

export function writeChunk(client: ChunkServiceClient, h: WriteHeader, data: Buffer, frameSize = BLOCK_SIZE, token?: string): Promise<WriteChunkResponse> {
  return writeRaw(client, [{ header: h }, ...frames(data, frameSize)], token);
}

/**
 * Reads a chunk; `frames` lists one entry per block (a multi-block message is split, as the
 * client does), `messages` what came over the wire.
 */
export async function readChunk(
  client: ChunkServiceClient,
  req: Partial<ReadChunkRequest> & { handle: number },
  token?: string,
): Promise<{ data: Buffer; frames: ReadChunkResponse[]; messages: ReadChunkResponse[] }> {
  const t = token ?? testToken(req.handle, req.version ?? 0);
  const stream = client.readChunk({ version: 0, offset: 0, length: 0, requestId: '', ...req }, t ? tokenMetadata(t) : new Metadata(), { deadline: Date.now() + 20_000 });
  const got: ReadChunkResponse[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (r: ReadChunkResponse) => got.push(r));
    stream.on('error', reject);
    stream.on('end', resolve);
  });
  const frames = got.flatMap((m) =>
    framePieces(Buffer.from(m.data), m.crc32c, m.blockCrc32cs).map((p, i) => ({ offset: m.offset + i * BLOCK_SIZE, data: p.data, crc32c: p.crc, blockCrc32cs: [] })),
  );
  return { data: Buffer.concat(got.map((f) => f.data)), frames, messages: got };
}

export function chunkInfo(client: ChunkServiceClient, handle: number, token = testToken(handle)): Promise<ChunkInfoResponse> {
  return new Promise((resolve, reject) => client.chunkInfo({ handle }, tokenMetadata(token), (err, r) => (err ? reject(err) : resolve(r))));
}

/** Runs `p`, expecting a DfsError with `code`; returns it. */
export async function expectDfsError(p: Promise<unknown>, code: ErrorCode): Promise<DfsError> {
  try {
    await p;
  } catch (err) {
    const d = toDfsError(err);
    if (d.code !== code) throw new Error(`expected ${ErrorCode[code]}, got ${d.codeName}: ${d.message}`);
    return d;
  }
  throw new Error(`expected ${ErrorCode[code]}, but it succeeded`);
}
