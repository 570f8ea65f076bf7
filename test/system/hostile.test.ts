import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  AddChunkRequest,
  AddMasterRequest,
  CHUNK_TOKEN_KEY,
  ChunkInfoRequest,
  ChunkServiceClient,
  ChunkserverControlServiceClient,
  CompleteFileRequest,
  CopyChunkRequest,
  CreateFileRequest,
  DecommissionRequest,
  DeleteChunkRequest,
  ErrorCode,
  FsckRequest,
  HeartbeatRequest,
  ListRequest,
  MasterServiceClient,
  MkdirRequest,
  RaftMessageCodec,
  RaftServiceClient,
  ReadChunkRequest,
  RegisterRequest,
  RemoveMasterRequest,
  RenameRequest,
  RenewLeaseRequest,
  ReportBadReplicaRequest,
  channelOptions,
  crc32cOf,
  errorCodeName,
  toDfsError,
  type ChunkLocation,
  type RaftMessage,
  type SnapshotPiece,
  type WriteHeader,
} from '@dfs/proto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { channelCredentials, decodeChunkToken, newChunkTokenKey, mintChunkToken, tlsFrom, type Security } from '@dfs/security';
import { PassThrough } from 'node:stream';
import { TestCluster, waitFor } from '@dfs/testkit';
import { sha256 } from '../lib/files.js';
import { parsePrometheus, sumOf } from '../lib/prometheus.js';

/*
 * The hostile suite (issue 13): requests an outsider would send to every port of a running
 * cluster. Each one must get its typed error (and a one-line message); afterwards every
 * process is alive, every master's Raft loop still commits, the refusals are counted in
 * /metrics, and the data written before is byte-identical.
 *
 * Classes: malformed and oversized fields (master, chunkserver-control and chunk services,
 * each sent with a certificate of the role the RPC allows, so the bounds are what refuses
 * it), a stranger's or impostor's Raft messages and snapshots (under another master's
 * certificate), and certificates of the wrong role or none. (trust-boundary.test.ts covers
 * certificates in depth.) Chunk access tokens: no, forged, expired, replayed (another chunk),
 * wrong-operation, wrong-node, stale-version and overwriting tokens, each on a real chunk
 * (the cluster's tokens live 20 s, so an honest one expires during the run).
 */

interface HostileCase {
  readonly cls: 'malformed-or-oversized' | 'raft-stranger' | 'wrong-role-or-no-certificate' | 'chunk-token';
  readonly what: string;
  readonly send: () => Promise<unknown>;
  readonly want: ErrorCode[];
}

const MiB = 1024 * 1024;
/** The hostile cluster's chunk-token lifetime: short, so an honest token expires during the run. */
const TOKEN_TTL_S = 20;
const long = (n: number, c = 'x'): string => c.repeat(n);

function unary<Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res as Res))));
}

describe('hostile requests: every port refuses with a typed error and nothing is lost', function () {
  this.timeout(300_000);
  let cluster: TestCluster;
  const files = new Map<string, string>();
  const results: Array<{ c: HostileCase; code: ErrorCode; message: string }> = [];

  before(async function () {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 4, chunkSize: 256 * 1024, extraArgs: ['--master-args', `--chunk-token-ttl ${TOKEN_TTL_S}s`] });
    const client = cluster.client();
    // Seeded data: sizes and bytes from a fixed seed so a failure reproduces.
    const seed = 13;
    console.log(`      hostile suite data seed ${seed}`);
    let x = seed;
    const next = (): number => (x = (x * 1103515245 + 12345) & 0x7fffffff);
    for (let i = 0; i < 4; i++) {
      const data = Buffer.alloc(100_000 + (next() % 700_000));
      for (let j = 0; j < data.length; j++) data[j] = next() & 0xff;
      const path = `/before/f${i}`;
      await client.put(data, path);
      files.set(path, sha256(data));
    }
    early = (await client.locate('/before/f0')).chunks[0]!;
  });
  /** An honest token taken at the start: expired by the time its case runs. */
  let early: ChunkLocation;

  after(async function () {
    await cluster?.stop();
  });

  /** A node's own credentials, as a compromised or confused node would hold them. */
  const nodeSecurity = (id: string): Security => tlsFrom(join(cluster.node(id).dir, 'tls'));

  function masterCases(address: string): HostileCase[] {
    const m = new MasterServiceClient(address, channelCredentials(cluster.security), channelOptions());
    const admin = new MasterServiceClient(address, channelCredentials(cluster.adminSecurity), channelOptions());
    const cs = new ChunkserverControlServiceClient(address, channelCredentials(nodeSecurity('c1')), channelOptions());
    const P = [ErrorCode.PERMISSION_DENIED];
    const I = [ErrorCode.INVALID_ARGUMENT];
    const N = [ErrorCode.NAME_TOO_LONG];
    const c = (what: string, send: () => Promise<unknown>, want = I): HostileCase => ({ cls: 'malformed-or-oversized', what: `${what} (${address})`, send, want });
    return [
      c('CreateFile with a 1 MiB client id', () => unary(m.createFile.bind(m), CreateFileRequest.fromPartial({ path: '/h/a', clientId: long(MiB) }))),
      c('CreateFile with a client id containing spaces', () => unary(m.createFile.bind(m), CreateFileRequest.fromPartial({ path: '/h/a', clientId: 'a b c' }))),
      c('CreateFile with a 5000-byte path', () => unary(m.createFile.bind(m), CreateFileRequest.fromPartial({ path: `/${long(5000)}`, clientId: 'c1' })), N),
      c('CreateFile with a 200-character op id', () => unary(m.createFile.bind(m), CreateFileRequest.fromPartial({ path: '/h/a', clientId: 'c1', opId: long(200) }))),
      c('AddChunk excluding 65 chunkservers', () => unary(m.addChunk.bind(m), AddChunkRequest.fromPartial({ path: '/h/a', clientId: 'c1', excludeChunkservers: Array.from({ length: 65 }, (_, i) => `c${i}`) }))),
      c('AddChunk excluding a path-like id', () => unary(m.addChunk.bind(m), AddChunkRequest.fromPartial({ path: '/h/a', clientId: 'c1', excludeChunkservers: ['../../etc'] }))),
      c('RenewLease with a 1 MiB client id', () => unary(m.renewLease.bind(m), RenewLeaseRequest.fromPartial({ clientId: long(MiB) }))),
      c('ReportBadReplica with a 1 MiB reason', () => unary(m.reportBadReplica.bind(m), ReportBadReplicaRequest.fromPartial({ handle: 1, chunkserverId: 'c1', reason: long(MiB) }))),
      c('ReportBadReplica naming a bad chunkserver id', () => unary(m.reportBadReplica.bind(m), ReportBadReplicaRequest.fromPartial({ handle: 1, chunkserverId: 'c1\nFAKE LOG LINE', reason: 'x' }))),
      c('Mkdir with a newline in its op id', () => unary(m.mkdir.bind(m), MkdirRequest.fromPartial({ path: '/h/d', opId: 'op\n1' }))),
      c('Rename with a 1 MiB source', () => unary(m.rename.bind(m), RenameRequest.fromPartial({ src: `/${long(MiB)}`, dst: '/h/b' })), N),
      c('List starting after a 300-byte name', () => unary(m.list.bind(m), ListRequest.fromPartial({ path: '/', startAfter: long(300) })), N),
      c('Decommission a 1 MiB node id', () => unary(admin.decommission.bind(admin), DecommissionRequest.fromPartial({ chunkserverId: long(MiB) }))),
      c('AddMaster with a bad id', () => unary(admin.addMaster.bind(admin), AddMasterRequest.fromPartial({ id: 'a b', address: '127.0.0.1:1' }))),
      c('AddMaster with a bad address', () => unary(admin.addMaster.bind(admin), AddMasterRequest.fromPartial({ id: 'm9', address: 'nowhere' }))),
      c('RemoveMaster with a path-like id', () => unary(admin.removeMaster.bind(admin), RemoveMasterRequest.fromPartial({ id: '../m1' }))),
      c('CompleteFile naming a bad replica id', () => unary(m.completeFile.bind(m), CompleteFileRequest.fromPartial({ path: '/h/a', clientId: 'c1', chunks: [{ handle: 1, length: 1, crc32c: 1, replicas: ['c1', 'bad id'] }] }))),
      c('Fsck of a 1 MiB path', () => unary(m.fsck.bind(m), FsckRequest.fromPartial({ path: `/${long(MiB)}` })), N),
      // Under c1's own certificate: another id is an impostor, c1's id with bad fields is out of bounds.
      c('Register a 1 MiB node id', () => unary(cs.register.bind(cs), RegisterRequest.fromPartial({ id: long(MiB), address: '127.0.0.1:1' })), P),
      c('Register with a bad address', () => unary(cs.register.bind(cs), RegisterRequest.fromPartial({ id: 'c1', address: 'not an address' }))),
      c('Register with a bad rack', () => unary(cs.register.bind(cs), RegisterRequest.fromPartial({ id: 'c1', address: '127.0.0.1:1', rack: 'r/1' }))),
      c('Heartbeat of a path-like node id', () => unary(cs.heartbeat.bind(cs), HeartbeatRequest.fromPartial({ id: '../c1' })), P),
    ];
  }

  function chunkserverCases(address: string): HostileCase[] {
    const c = new ChunkServiceClient(address, channelCredentials(cluster.security), channelOptions());
    const admin = new ChunkServiceClient(address, channelCredentials(cluster.adminSecurity), channelOptions());
    const I = [ErrorCode.INVALID_ARGUMENT];
    const k = (what: string, send: () => Promise<unknown>): HostileCase => ({ cls: 'malformed-or-oversized', what: `${what} (${address})`, send, want: I });
    const read = (req: ReadChunkRequest): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const call = c.readChunk(req);
        call.on('data', () => undefined);
        call.on('error', reject);
        call.on('end', resolve);
      });
    const write = (header: Parameters<typeof ReadChunkRequest.fromPartial>[0] & Record<string, unknown>): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const call = c.writeChunk((err: grpc.ServiceError | null, res?: unknown) => (err ? reject(err) : resolve(res)));
        call.on('error', () => undefined);
        call.write({ msg: { $case: 'header', value: { handle: 1, version: 1, chain: [], requestId: '', chunkSize: 0, offset: 0, leaseExpiryMs: 0, ...header } } });
        call.end();
      });
    const ref = (id: string, addr = '127.0.0.1:1'): { id: string; address: string; rack: string } => ({ id, address: addr, rack: '' });
    return [
      k('ReadChunk of handle 0', () => read(ReadChunkRequest.fromPartial({ handle: 0 }))),
      k('ReadChunk with a 200-character request id', () => read(ReadChunkRequest.fromPartial({ handle: 1, requestId: long(200) }))),
      k('WriteChunk with a chain of 40 replicas', () => write({ chain: Array.from({ length: 40 }, (_, i) => ref(`z${i}`)) })),
      k('WriteChunk with a path-like chain id', () => write({ chain: [ref('../../etc')] })),
      k('WriteChunk with a chain address that is not host:port', () => write({ chain: [ref('z1', 'evil')] })),
      k('CopyChunk from a bad source id', () => unary(admin.copyChunk.bind(admin), CopyChunkRequest.fromPartial({ handle: 1, version: 1, source: ref('a b') }))),
      k('CopyChunk from a source that is not host:port', () => unary(admin.copyChunk.bind(admin), CopyChunkRequest.fromPartial({ handle: 1, version: 1, source: ref('z1', 'nowhere') }))),
      k('DeleteChunk of handle 0', () => unary(admin.deleteChunk.bind(admin), DeleteChunkRequest.fromPartial({ handle: 0 }))),
      k('ChunkInfo of handle 0', () => unary(c.chunkInfo.bind(c), ChunkInfoRequest.fromPartial({ handle: 0 }))),
    ];
  }

  function raftCases(target: { id: string; address: string }, leaderId: string): HostileCase[] {
    // Sent under another (non-leading) master's own certificate: past the TLS role check, so
    // the gate in front of the Raft core is what refuses them.
    const other = cluster.info.masters.map((m) => m.id).find((id) => id !== target.id && id !== leaderId)!;
    const r = new RaftServiceClient(target.address, channelCredentials(nodeSecurity(other)), channelOptions());
    const P = [ErrorCode.PERMISSION_DENIED];
    const I = [ErrorCode.INVALID_ARGUMENT];
    const msg = (m: Partial<RaftMessage>): RaftMessage => RaftMessageCodec.fromPartial({ type: 7, from: 'mallory', to: target.id, term: 1, ...m });
    const stream = (messages: RaftMessage[]): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const call = r.stream((err: grpc.ServiceError | null, res?: unknown) => (err ? reject(err) : resolve(res)));
        call.on('error', () => undefined);
        call.write({ messages });
        // A refused message ends the call from the server side; a stream left open is the failure.
      });
    const snapshot = (header: RaftMessage): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const call = r.installSnapshot((err: grpc.ServiceError | null, res?: unknown) => (err ? reject(err) : resolve(res)));
        call.on('error', () => undefined);
        const data = Buffer.from('SQLite format 3\0 but not really');
        const pieces: SnapshotPiece[] = [{ header, data, last: true, crc32c: crc32cOf(data), size: data.length }];
        for (const p of pieces) call.write(p);
        call.end();
      });
    const c = (what: string, send: () => Promise<unknown>, want: ErrorCode[]): HostileCase => ({ cls: 'raft-stranger', what: `${what} (to ${target.id})`, send, want });
    return [
      c('a stranger raising the term to 2^40', () => stream([msg({ term: 2 ** 40 })]), P),
      c('a stranger asking for a forced vote', () => stream([msg({ type: 3, term: 1_000_000, force: true })]), P),
      c('the leader impersonated by another member', () => stream([msg({ from: leaderId, term: 2 ** 40 })]), P),
      c('TimeoutNow from a member that does not lead', () => stream([msg({ type: 10, from: other, term: 1_000_000 })]), P),
      c('a message addressed to another node', () => stream([msg({ from: other, to: 'nobody' })]), P),
      c('an unknown message type', () => stream([msg({ type: 77, from: leaderId })]), I),
      c('an append whose entries skip indexes', () => stream([msg({ type: 1, from: leaderId, index: 1, entries: [{ term: 1, index: 50, type: 0, data: Buffer.from('{}') }] })]), I),
      c('a batch of 5000 messages', () => stream(Array.from({ length: 5000 }, () => msg({ from: leaderId }))), I),
      c('a stranger installing a snapshot', () => snapshot(msg({ type: 9, term: 2 ** 40, hasSnapshot: true, snapshot: { index: 1 << 30, term: 2 ** 40, members: [{ id: 'mallory', address: '127.0.0.1:1', voter: true }] } })), P),
    ];
  }

  function certificateCases(target: { id: string; address: string }): HostileCase[] {
    // A user certificate on node and admin ports, and a chunkserver's on the Raft port.
    const user = cluster.security;
    const c = (what: string, send: () => Promise<unknown>): HostileCase => ({ cls: 'wrong-role-or-no-certificate', what: `${what} (to ${target.id})`, send, want: [ErrorCode.PERMISSION_DENIED] });
    const raftAs = (s: Security): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const r = new RaftServiceClient(target.address, channelCredentials(s), channelOptions());
        const call = r.stream((err: grpc.ServiceError | null, res?: unknown) => (err ? reject(err) : resolve(res)));
        call.on('error', () => undefined);
        call.write({ messages: [RaftMessageCodec.fromPartial({ type: 10, from: 'm1', to: target.id, term: 2 ** 40 })] });
      });
    const m = new MasterServiceClient(target.address, channelCredentials(user), channelOptions());
    const cs = new ChunkserverControlServiceClient(target.address, channelCredentials(user), channelOptions());
    // No certificate at all: the TLS handshake itself is refused (the client sees UNAVAILABLE).
    const caOnly = grpc.credentials.createSsl(readFileSync(join(cluster.info.tls!.client, 'ca.crt')));
    const bare = new MasterServiceClient(target.address, caOnly, channelOptions());
    const noCert: HostileCase = {
      cls: 'wrong-role-or-no-certificate',
      what: `no certificate: Mkdir (to ${target.id})`,
      send: () => unary(bare.mkdir.bind(bare), MkdirRequest.fromPartial({ path: '/h/no-cert' })),
      want: [ErrorCode.UNAVAILABLE],
    };
    return [
      noCert,
      c('a user certificate on the Raft port', () => raftAs(user)),
      c('a chunkserver certificate on the Raft port', () => raftAs(nodeSecurity('c2'))),
      c('a user certificate registering a chunkserver', () => unary(cs.register.bind(cs), RegisterRequest.fromPartial({ id: 'c1', address: '127.0.0.1:1' }))),
      c('a user certificate decommissioning a node', () => unary(m.decommission.bind(m), DecommissionRequest.fromPartial({ chunkserverId: 'c1' }))),
    ];
  }

  function tokenCases(): HostileCase[] {
    const user = cluster.security;
    const admin = cluster.adminSecurity;
    const client = cluster.client();
    const md = (token?: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      if (token !== undefined) m.set(CHUNK_TOKEN_KEY, token);
      return m;
    };
    const cs = (address: string, s: Security = user): ChunkServiceClient => new ChunkServiceClient(address, channelCredentials(s), channelOptions());
    const addressOf = (id: string): string => cluster.node(id).address;
    const read = (node: string, handle: number, token?: string): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const call = cs(addressOf(node)).readChunk(ReadChunkRequest.fromPartial({ handle }), md(token));
        call.on('data', () => undefined);
        call.on('error', reject);
        call.on('end', resolve);
      });
    const write = (node: string, token: string | undefined, header: Partial<WriteHeader> & { handle: number }, data = Buffer.alloc(1000, 7)): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const call = cs(addressOf(node)).writeChunk(md(token), (err: grpc.ServiceError | null, res?: unknown) => (err ? reject(err) : resolve(res)));
        call.on('error', () => undefined);
        call.write({ msg: { $case: 'header', value: { version: 1, chain: [], requestId: '', chunkSize: 256 * 1024, offset: 0, leaseExpiryMs: 0, ...header } } });
        call.write({ msg: { $case: 'frame', value: { data, crc32c: crc32cOf(data), pieceCrc32cs: [] } } });
        call.end();
      });
    // Fresh honest tokens for each case (they live only TOKEN_TTL_S): chunk A of f0 and a chunk B
    // of another file with a replica on A's first replica X; Z is the chunkserver A's token does not name.
    const pick = async (): Promise<{ a: ChunkLocation; b: ChunkLocation; x: string; z: string }> => {
      const a = (await client.locate('/before/f0')).chunks[0]!;
      const x = a.replicas[0]!.id;
      let b: ChunkLocation | undefined;
      for (const path of ['/before/f1', '/before/f2', '/before/f3', '/before/f0']) {
        b = (await client.locate(path)).chunks.find((c) => c.handle !== a.handle && c.replicas.some((r) => r.id === x));
        if (b) break;
      }
      const named = new Set(decodeChunkToken(a.token!).claims.nodes);
      const z = cluster.info.chunkservers.map((c) => c.id).find((id) => !named.has(id))!;
      assert.ok(b && z, 'a second chunk on the same node, and a node the first token does not name');
      return { a, b, x, z };
    };
    const forge = (token: string, payload: Record<string, unknown>): string => {
      const [id, , mac] = token.split('.');
      return `${id}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${mac}`;
    };
    // A file written by hand through the RPCs a client uses, keeping its write token T1 (version 1).
    const tok = { path: '/before/tok', data: Buffer.alloc(1000, 9), extra: Buffer.alloc(3000, 5) };
    let t1: { token: string; handle: number; primary: string; length: number } | undefined;
    const writeByHand = async (): Promise<NonNullable<typeof t1>> => {
      const leader = (await client.clusterStatus()).leaderAddress;
      const m = new MasterServiceClient(leader, channelCredentials(user), channelOptions());
      const clientId = 'hostile-writer';
      const created = await unary(m.createFile.bind(m), CreateFileRequest.fromPartial({ path: tok.path, clientId, allocateFirstChunk: true }));
      const loc = (created as { file: { inode: number }; firstChunk?: ChunkLocation }).firstChunk;
      assert.ok(loc?.token, 'CreateFile allocated the first chunk with a write token');
      const primary = loc.replicas[0]!.id;
      const res = (await write(primary, loc.token, { handle: loc.handle, version: loc.version, chain: loc.replicas.slice(1) }, tok.data)) as { length: number; crc32c: number; replicas: string[] };
      const inode = (created as { file: { inode: number } }).file.inode;
      await unary(m.completeFile.bind(m), CompleteFileRequest.fromPartial({ path: tok.path, inode, clientId, chunks: [{ handle: loc.handle, length: res.length, crc32c: res.crc32c, replicas: res.replicas }] }));
      files.set(tok.path, sha256(tok.data));
      return (t1 = { token: loc.token, handle: loc.handle, primary, length: res.length });
    };
    const P = [ErrorCode.PERMISSION_DENIED];
    const c = (what: string, send: () => Promise<unknown>, want = P): HostileCase => ({ cls: 'chunk-token', what, send, want });
    return [
      c('ReadChunk without a token', async () => { const { a, x } = await pick(); return read(x, a.handle); }),
      c('ReadChunk with a token that is not one', async () => { const { a, x } = await pick(); return read(x, a.handle, 'not-a-token'); }),
      c('ReadChunk with a forged token (all operations, the honest signature)', async () => {
        const { a, x } = await pick();
        const cl = decodeChunkToken(a.token!).claims;
        return read(x, a.handle, forge(a.token!, { h: cl.handle, v: cl.version, o: 'rwcd', n: cl.nodes, u: 'root', e: cl.expiresMs + 3_600_000, l: 0 }));
      }),
      c('ReadChunk with a token signed by a key no master holds', async () => {
        const { a, x } = await pick();
        const cl = decodeChunkToken(a.token!).claims;
        return read(x, a.handle, mintChunkToken(newChunkTokenKey(0, Date.now() + 60_000), cl));
      }),
      c('ReadChunk with an honest token that expired', async () => {
        const exp = decodeChunkToken(early.token!).claims.expiresMs;
        await waitFor('the early token to expire', () => Date.now() > exp + 500, (TOKEN_TTL_S + 30) * 1000);
        return read(early.replicas[0]!.id, early.handle, early.token);
      }, [ErrorCode.TOKEN_EXPIRED]),
      c('ReadChunk of another chunk, replaying a token', async () => { const { a, b, x } = await pick(); return read(x, b.handle, a.token); }),
      c('ChunkInfo of another chunk, replaying a token', async () => {
        const { a, b, x } = await pick();
        const s = cs(addressOf(x));
        return new Promise((res, rej) => s.chunkInfo(ChunkInfoRequest.fromPartial({ handle: b.handle }), md(a.token), (e: grpc.ServiceError | null, r?: unknown) => (e ? rej(e) : res(r))));
      }),
      c('ReadChunk on a chunkserver the token does not name', async () => { const { a, z } = await pick(); return read(z, a.handle, a.token); }),
      c('WriteChunk (an append) with a read token', async () => { const { a, x } = await pick(); return write(x, a.token, { handle: a.handle, version: a.version + 1, offset: a.length }); }),
      c('DeleteChunk with a read token (admin certificate)', async () => {
        const { a, x } = await pick();
        const s = cs(addressOf(x), admin);
        return new Promise((res, rej) => s.deleteChunk(DeleteChunkRequest.fromPartial({ handle: a.handle }), md(a.token), (e: grpc.ServiceError | null) => (e ? rej(e) : res(undefined))));
      }),
      c('CopyChunk with a read token (admin certificate)', async () => {
        const { a, x, z } = await pick();
        const s = cs(addressOf(z), admin);
        const source = { id: x, address: addressOf(x), rack: '' };
        return new Promise((res, rej) => s.copyChunk(CopyChunkRequest.fromPartial({ handle: a.handle, version: a.version, source }), md(a.token), (e: grpc.ServiceError | null, r?: unknown) => (e ? rej(e) : res(r))));
      }),
      c('WriteChunk overwriting a committed replica with its own write token', async () => {
        const w = await writeByHand();
        return write(w.primary, w.token, { handle: w.handle, version: 1, offset: 0 }, Buffer.alloc(1000, 0xee));
      }),
      c('WriteChunk with a stale write token (the chunk was appended to since)', async () => {
        const w = t1 ?? (await writeByHand());
        await client.append(new PassThrough().end(tok.extra), tok.path);
        files.set(tok.path, sha256(Buffer.concat([tok.data, tok.extra])));
        return write(w.primary, w.token, { handle: w.handle, version: 1, offset: w.length + tok.extra.length }, Buffer.alloc(10, 0xee));
      }, [ErrorCode.STALE_VERSION]),
    ];
  }

  it('refuses chunk access without a valid token: each refusal typed, nothing changed', async () => {
    const cases = tokenCases();
    for (const c of cases) {
      const err = await c.send().then(
        () => assert.fail(`${c.what}: accepted`),
        (e: unknown) => toDfsError(e),
      );
      assert.ok(c.want.includes(err.code), `${c.what}: got ${err.codeName} (${err.message.slice(0, 200)}), want ${c.want.map(errorCodeName).join('|')}`);
      assert.ok(!err.message.includes('\n'), `${c.what}: a one-line message`);
      results.push({ c, code: err.code, message: err.message });
    }
    console.log(`      chunk-token requests: ${cases.length}`);
  });

  it('a long read and a stalled write outlive their tokens: the client renews them from the master', async () => {
    // One piece at a time, so the read really is still going when its tokens have expired.
    const client = cluster.client({ parallelReads: 1 });
    const big = Buffer.alloc(2 * MiB + 12_345);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    await client.put(big, '/before/long');
    files.set('/before/long', sha256(big));
    const exp = Math.max(...(await client.locate('/before/long')).chunks.map((c) => decodeChunkToken(c.token!).claims.expiresMs));
    const expired = async (): Promise<void> => {
      await waitFor('the tokens handed out now to expire', () => Date.now() > exp + 1000, (TOKEN_TTL_S + 30) * 1000);
    };
    // The reader gets its tokens with its first GetFile, reads a piece, then stalls past their expiry.
    const reading = (async (): Promise<string> => {
      const parts: Buffer[] = [];
      for await (const b of client.readChunks('/before/long')) {
        if (parts.length === 0) await expired();
        parts.push(b);
      }
      return sha256(Buffer.concat(parts));
    })();
    // The writer's CreateFile hands it chunk 0 with a write token; its data comes only after expiry.
    const source = new PassThrough();
    const writing = client.put(source, '/before/late');
    await expired();
    const late = Buffer.alloc(300_000, 3);
    source.end(late);
    files.set('/before/late', sha256(late));
    assert.equal(await reading, sha256(big), 'the long read is byte-identical');
    assert.equal((await writing).size, late.length);
    assert.equal(sha256(await client.readFile('/before/late')), sha256(late));
  });

  it('sends at least 100 hostile requests; each gets its typed error', async () => {
    const leaderId = (await cluster.client().clusterStatus()).leaderId;
    const cases: HostileCase[] = [
      ...cluster.info.masters.flatMap((m) => masterCases(m.address)),
      ...cluster.info.chunkservers.flatMap((c) => chunkserverCases(c.address)),
      ...cluster.info.masters.flatMap((m) => raftCases(m, leaderId)),
      ...cluster.info.masters.flatMap((m) => certificateCases(m)),
    ];
    assert.ok(cases.length >= 100, `${cases.length} cases`);
    for (const c of cases) {
      const err = await c.send().then(
        () => assert.fail(`${c.what}: accepted`),
        (e: unknown) => toDfsError(e),
      );
      assert.ok(c.want.includes(err.code), `${c.what}: got ${err.codeName} (${err.message.slice(0, 200)}), want ${c.want.map(errorCodeName).join('|')}`);
      // (A refused handshake never reaches a server handler: grpc-js words that one itself.)
      if (err.code !== ErrorCode.UNAVAILABLE) assert.ok(!err.message.includes('\n'), `${c.what}: a one-line message`);
      results.push({ c, code: err.code, message: err.message });
    }
    const byClass = new Map<string, number>();
    for (const r of results) byClass.set(r.c.cls, (byClass.get(r.c.cls) ?? 0) + 1);
    console.log(`      hostile requests: ${results.length} (${[...byClass].map(([k, n]) => `${k} ${n}`).join(', ')})`);
  });

  it('afterwards every process is alive, refusals are counted, every Raft loop commits and the data is byte-identical', async () => {
    for (const n of [...cluster.info.masters, ...cluster.info.chunkservers]) {
      assert.doesNotThrow(() => process.kill(n.pid, 0), `${n.id} (pid ${n.pid}) is alive`);
    }
    for (const m of cluster.info.masters) {
      const samples = parsePrometheus(await (await fetch(`http://${m.http}/metrics`)).text());
      assert.ok(sumOf(samples, 'dfs_raft_refused_total') >= 8, `${m.id} counts the refused Raft messages`);
    }
    // Every master's loop still commits: a new write is applied on all of them.
    const client = cluster.client();
    await client.mkdir('/after-hostile', { parents: true });
    const leader = await client.clusterStatus();
    const target = Math.max(...leader.masters.map((m) => m.commitIndex));
    for (const m of cluster.info.masters) {
      await waitFor(`${m.id} applies the write made after the hostile requests`, async () => {
        const samples = parsePrometheus(await (await fetch(`http://${m.http}/metrics`)).text());
        return sumOf(samples, 'dfs_raft_applied_index') >= target;
      }, 30_000);
    }
    for (const [path, hash] of files) assert.equal(sha256(await client.readFile(path)), hash, `${path} is byte-identical`);
  });
});
