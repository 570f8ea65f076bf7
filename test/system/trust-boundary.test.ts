import assert from 'node:assert/strict';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { ChannelCredentials, Metadata } from '@grpc/grpc-js';
import type { DfsClient } from '@dfs/client';
import {
  BalanceRequest,
  ChunkInfoRequest,
  ChunkServiceClient,
  ChunkserverControlServiceClient,
  CopyChunkRequest,
  CreateFileRequest,
  DecommissionRequest,
  DeleteChunkRequest,
  DeleteRequest,
  ErrorCode,
  HeartbeatRequest,
  MasterServiceClient,
  RaftMessageCodec,
  RaftServiceClient,
  RegisterRequest,
  RemoveMasterRequest,
  AddMasterRequest,
  StatRequest,
  channelOptions,
  toDfsError,
  type DfsError,
} from '@dfs/proto';
import { INSECURE, channelCredentials, tlsFrom, type Security } from '@dfs/security';
import { TestCluster, runDfs } from '../lib/cluster.js';
import { waitFor } from '../lib/wait.js';

/*
 * The trust boundary as an outsider meets it (issue 13): every gRPC port of a cluster that
 * `dfs cluster up` started with zero flags refuses callers without a certificate of the
 * cluster's CA, and refuses node and admin RPCs to certificates of the wrong role. After
 * every class: all processes alive, Raft still committing, data written before unchanged.
 */

type Grpc = { close(): void };
type Unary = (req: unknown, md: Metadata, opts: { deadline: number }, cb: (err: unknown) => void) => unknown;

/** One unary call; resolves to its error (as a DfsError) or undefined on success. */
function attempt<C extends Grpc>(make: () => C, method: string, request: unknown): Promise<DfsError | undefined> {
  const client = make();
  return new Promise((resolve) => {
    ((client as unknown as Record<string, Unary>)[method]!).call(client, request, new Metadata(), { deadline: Date.now() + 10_000 }, (err) => {
      client.close();
      resolve(err ? toDfsError(err) : undefined);
    });
  });
}

/** Raft messages on one stream; resolves to the stream's error or undefined. */
function raftSend(address: string, creds: ChannelCredentials, messages: Array<Partial<ReturnType<typeof RaftMessageCodec.fromPartial>>>): Promise<DfsError | undefined> {
  const client = new RaftServiceClient(address, creds, channelOptions());
  return new Promise((resolve) => {
    const stream = client.stream(new Metadata(), { deadline: Date.now() + 10_000 }, (err) => {
      client.close();
      resolve(err ? toDfsError(err) : undefined);
    });
    stream.on('error', () => undefined);
    stream.write({ messages: messages.map((m) => RaftMessageCodec.fromPartial(m)) });
    stream.end();
  });
}

const HUGE_TERM = 2 ** 40;

describe('trust boundary: mutual TLS on every port, roles from certificates', function () {
  this.timeout(180_000);
  let cluster: TestCluster;
  let client: DfsClient;
  let extra: string;
  const data = randomBytes(200_000);
  let requests = 0;
  const creds = (s: Security): ChannelCredentials => channelCredentials(s);
  const master = (address: string, s: Security | ChannelCredentials) => () => new MasterServiceClient(address, s instanceof ChannelCredentials ? s : creds(s), channelOptions());
  const control = (address: string, s: Security | ChannelCredentials) => () => new ChunkserverControlServiceClient(address, s instanceof ChannelCredentials ? s : creds(s), channelOptions());
  const chunks = (address: string, s: Security | ChannelCredentials) => () => new ChunkServiceClient(address, s instanceof ChannelCredentials ? s : creds(s), channelOptions());

  async function expectCode(what: string, got: Promise<DfsError | undefined>, code: ErrorCode, message?: RegExp): Promise<void> {
    requests++;
    const err = await got;
    assert.ok(err, `${what}: accepted, expected ${ErrorCode[code]}`);
    assert.equal(err.code, code, `${what}: ${err.codeName} ${err.message}`);
    if (message) assert.match(err.message, message, what);
  }

  /** An identity issued by the cluster's own CA through the CLI, as an operator would. */
  async function issue(role: string, name: string, hosts: string[] = []): Promise<Security> {
    const out = join(extra, `${role}-${name}`);
    const res = await runDfs(['admin', 'cert', 'issue', '--role', role, '--name', name, '--out', out, '--ca', cluster.info.tls!.ca, ...hosts.flatMap((h) => ['--host', h])]);
    assert.equal(res.code, 0, res.stderr);
    return tlsFrom(out);
  }

  before(async () => {
    cluster = await TestCluster.start({ masters: 3, chunkservers: 3, chunkSize: 64 * 1024 });
    client = cluster.client({ retryWindowMs: 30_000 });
    extra = mkdtempSync(join(tmpdir(), 'dfs-trust-'));
    await client.put(data, '/keep/data.bin');
  });
  after(async () => {
    process.stdout.write(`      hostile requests refused: ${requests}\n`);
    await cluster?.stop();
    if (extra) rmSync(extra, { recursive: true, force: true });
  });

  it('made a CA and a certificate per node under the data directory, keys 0600, with zero flags', () => {
    assert.ok(cluster.info.tls, 'cluster.json names the credentials');
    for (const node of [...cluster.info.masters, ...cluster.info.chunkservers]) {
      assert.equal(statSync(join(node.dir, 'tls', 'tls.key')).mode & 0o777, 0o600, node.id);
      assert.match(readFileSync(join(node.dir, 'tls', 'tls.crt'), 'utf8'), /BEGIN CERTIFICATE/);
    }
    assert.equal(statSync(join(cluster.info.tls.ca, 'ca.key')).mode & 0o777, 0o600);
  });

  it('refuses every port to a caller without a certificate, in plaintext, or with a certificate of another CA', async () => {
    const caOnly = ChannelCredentials.createSsl(readFileSync(join(cluster.info.tls!.client, 'ca.crt')));
    const otherCa = join(extra, 'other-ca');
    assert.equal((await runDfs(['admin', 'ca', 'init', '--dir', otherCa])).code, 0);
    const strangerDir = join(extra, 'stranger-admin');
    assert.equal((await runDfs(['admin', 'cert', 'issue', '--role', 'admin', '--name', 'admin', '--out', strangerDir, '--ca', otherCa])).code, 0);
    const callers: Array<[string, Security | ChannelCredentials]> = [['no certificate', caOnly], ['plaintext', INSECURE], ['another CA', tlsFrom(strangerDir)]];
    for (const [who, c] of callers) {
      for (const m of cluster.info.masters) {
        await expectCode(`${who} → ${m.id} Stat`, attempt(master(m.address, c), 'stat', StatRequest.fromPartial({ path: '/keep/data.bin' })), ErrorCode.UNAVAILABLE);
        await expectCode(`${who} → ${m.id} Delete`, attempt(master(m.address, c), 'delete', DeleteRequest.fromPartial({ path: '/keep/data.bin', recursive: true })), ErrorCode.UNAVAILABLE);
        await expectCode(`${who} → ${m.id} Register`, attempt(control(m.address, c), 'register', RegisterRequest.fromPartial({ id: 'c1', address: '127.0.0.1:1' })), ErrorCode.UNAVAILABLE);
        await expectCode(`${who} → ${m.id} Raft`, raftSend(m.address, c instanceof ChannelCredentials ? c : creds(c), [{ type: 10, from: 'm1', to: m.id, term: HUGE_TERM }]), ErrorCode.UNAVAILABLE);
      }
      for (const cs of cluster.info.chunkservers) {
        await expectCode(`${who} → ${cs.id} ChunkInfo`, attempt(chunks(cs.address, c), 'chunkInfo', ChunkInfoRequest.fromPartial({ handle: 1 })), ErrorCode.UNAVAILABLE);
        await expectCode(`${who} → ${cs.id} DeleteChunk`, attempt(chunks(cs.address, c), 'deleteChunk', DeleteChunkRequest.fromPartial({ handle: 1 })), ErrorCode.UNAVAILABLE);
      }
    }
    // The TLS side names what it refused, in one line of its log.
    for (const node of [cluster.node('m1'), cluster.node('c1')]) {
      await waitFor(`${node.id} to log a refused handshake`, () => /TLS handshake refused: (a plaintext client|a client without a certificate)/.test(readFileSync(node.log, 'utf8')), 10_000);
    }
  });

  it('refuses node and admin RPCs to a user certificate', async () => {
    const mallory = await issue('client', 'mallory');
    const leader = (await client.clusterStatus()).leaderAddress;
    const m = (rpc: string, req: unknown) => expectCode(`user → ${rpc}`, attempt(master(leader, mallory), rpc, req), ErrorCode.PERMISSION_DENIED, /refused to dfs:\/\/user\/mallory/);
    await m('decommission', DecommissionRequest.fromPartial({ chunkserverId: 'c1' }));
    await m('balance', BalanceRequest.fromPartial({}));
    await m('addMaster', AddMasterRequest.fromPartial({ id: 'm9', address: '127.0.0.1:9' }));
    await m('removeMaster', RemoveMasterRequest.fromPartial({ id: 'm3' }));
    for (const node of cluster.info.masters) {
      await expectCode(`user → ${node.id} Register`, attempt(control(node.address, mallory), 'register', RegisterRequest.fromPartial({ id: 'c1', address: '127.0.0.1:1' })), ErrorCode.PERMISSION_DENIED);
      await expectCode(`user → ${node.id} Heartbeat`, attempt(control(node.address, mallory), 'heartbeat', HeartbeatRequest.fromPartial({ id: 'c1' })), ErrorCode.PERMISSION_DENIED);
      await expectCode(`user → ${node.id} Raft stream`, raftSend(node.address, creds(mallory), [{ type: 10, from: 'm1', to: node.id, term: HUGE_TERM }]), ErrorCode.PERMISSION_DENIED, /not a master/);
    }
    for (const cs of cluster.info.chunkservers) {
      await expectCode(`user → ${cs.id} DeleteChunk`, attempt(chunks(cs.address, mallory), 'deleteChunk', DeleteChunkRequest.fromPartial({ handle: 1 })), ErrorCode.PERMISSION_DENIED);
      await expectCode(`user → ${cs.id} CopyChunk`, attempt(chunks(cs.address, mallory), 'copyChunk', CopyChunkRequest.fromPartial({ handle: 1, version: 1, source: { id: 'c9', address: '127.0.0.1:9' } })), ErrorCode.PERMISSION_DENIED);
    }
    // The same calls the CLI makes: one clear line, and the admin's certificate succeeds.
    const denied = await runDfs(['admin', 'decommission', 'c1'], { env: { ...cluster.env, DFS_ADMIN_TLS_DIR: join(extra, 'client-mallory') } });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr.trim(), /^dfs: Decommission: refused to dfs:\/\/user\/mallory \(allowed: admin\)$/);
    const report = await cluster.dfs(['admin', 'balance', '--json']);
    assert.equal(report.code, 0, report.stderr);
  });

  it("a chunkserver's certificate cannot register or heartbeat as another node, nor act as a user", async () => {
    const c2 = tlsFrom(join(cluster.node('c2').dir, 'tls'));
    const admin = cluster.adminSecurity;
    for (const node of cluster.info.masters) {
      await expectCode(`c2 → ${node.id} Register as c1`, attempt(control(node.address, c2), 'register', RegisterRequest.fromPartial({ id: 'c1', address: cluster.node('c2').address })), ErrorCode.PERMISSION_DENIED, /may not speak for chunkserver "c1"/);
      await expectCode(`c2 → ${node.id} Heartbeat as c1`, attempt(control(node.address, c2), 'heartbeat', HeartbeatRequest.fromPartial({ id: 'c1' })), ErrorCode.PERMISSION_DENIED);
      await expectCode(`admin → ${node.id} Register as c1`, attempt(control(node.address, admin), 'register', RegisterRequest.fromPartial({ id: 'c1', address: '127.0.0.1:1' })), ErrorCode.PERMISSION_DENIED);
      await expectCode(`c2 → ${node.id} CreateFile`, attempt(master(node.address, c2), 'createFile', CreateFileRequest.fromPartial({ path: '/keep/x', clientId: 'c2' })), ErrorCode.PERMISSION_DENIED);
      await expectCode(`c2 → ${node.id} Delete`, attempt(master(node.address, c2), 'delete', DeleteRequest.fromPartial({ path: '/keep/data.bin', recursive: true })), ErrorCode.PERMISSION_DENIED);
    }
    const st = await client.clusterStatus();
    const c1 = st.chunkservers.find((c) => c.id === 'c1');
    assert.equal(c1?.state, 'live');
    assert.equal(c1?.address, cluster.node('c1').address, 'c1 keeps its own address');
  });

  it('Raft messages from a master that is not a member, or under another member\'s id, change nothing', async () => {
    const m9 = await issue('master', 'm9', ['127.0.0.1']);
    const m2 = tlsFrom(join(cluster.node('m2').dir, 'tls'));
    for (const node of cluster.info.masters) {
      for (const type of [3, 5, 7, 10]) {
        // Vote, PreVote, Heartbeat and TimeoutNow at a huge term: accepted, any of them would raise every term.
        assert.equal(await raftSend(node.address, creds(m9), [{ type, from: 'm9', to: node.id, term: HUGE_TERM, commit: 1e9 }]), undefined);
        requests++;
        if (node.id !== 'm2') {
          assert.equal(await raftSend(node.address, creds(m2), [{ type, from: 'm1', to: node.id, term: HUGE_TERM, commit: 1e9 }]), undefined);
          requests++;
        }
      }
    }
    // Once the stream is served the messages were stepped or refused; give the loop a beat to act on them.
    await client.mkdir('/keep/after-raft');
    const st = await client.clusterStatus();
    for (const mi of st.masters) assert.ok(mi.term < 1000, `${mi.id} term ${mi.term}`);
  });

  it('re-issued certificates are served without a restart: on a file change, and on SIGHUP', async () => {
    const alice = join(cluster.info.tls!.client);
    const served = (address: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const [host, port] = address.split(':');
        const socket = connect(
          { host, port: Number(port), ca: readFileSync(join(alice, 'ca.crt')), cert: readFileSync(join(alice, 'tls.crt')), key: readFileSync(join(alice, 'tls.key')), ALPNProtocols: ['h2'], checkServerIdentity: () => undefined },
          () => {
            const fp = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
            socket.destroy();
            resolve(fp);
          },
        );
        socket.on('error', reject);
      });
    const onDisk = (dir: string): string => new X509Certificate(readFileSync(join(dir, 'tls', 'tls.crt'))).fingerprint256;
    for (const [id, how] of [['c1', 'file change'], ['m3', 'SIGHUP']] as const) {
      const node = cluster.node(id);
      const before = await served(node.address);
      assert.equal(before, onDisk(node.dir));
      const res = await runDfs(['admin', 'cert', 'issue', '--role', id.startsWith('m') ? 'master' : 'chunkserver', '--name', id, '--host', '127.0.0.1', '--out', join(node.dir, 'tls'), '--ca', cluster.info.tls!.ca]);
      assert.equal(res.code, 0, res.stderr);
      const after = onDisk(node.dir);
      assert.notEqual(after, before);
      if (how === 'SIGHUP') cluster.signal(id, 'SIGHUP');
      await waitFor(`${id} to serve its new certificate (${how})`, async () => (await served(node.address)) === after, 15_000, 200);
      assert.doesNotThrow(() => process.kill(node.pid, 0), `${id} alive after ${how}`);
    }
  });

  it('after all of it: every process alive, Raft still committing, the data written before byte-identical', async () => {
    for (const node of [...cluster.info.masters, ...cluster.info.chunkservers]) {
      assert.doesNotThrow(() => process.kill(node.pid, 0), `${node.id} alive`);
    }
    await client.mkdir(`/keep/commit-${Date.now()}`);
    assert.ok((await client.readFile('/keep/data.bin')).equals(data));
    const st = await client.clusterStatus();
    assert.ok(st.leaderId);
    assert.equal(st.chunkservers.filter((c) => c.state === 'live').length, 3);
  });
});

describe('plaintext only when told: --insecure', function () {
  this.timeout(120_000);
  let cluster: TestCluster | undefined;
  after(async () => cluster?.stop());

  it('every process warns, the CLI warns, and a TLS client meeting it gets one line naming the peer', async () => {
    cluster = await TestCluster.start({ masters: 1, chunkservers: 1, extraArgs: ['--insecure', '--replication', '1'] });
    assert.equal(cluster.info.insecure, true);
    assert.equal(cluster.info.tls, undefined);
    for (const node of [...cluster.info.masters, ...cluster.info.chunkservers]) {
      await waitFor(`${node.id} to log the --insecure warning`, () => /"level":40.*--insecure/.test(readFileSync(node.log, 'utf8')), 10_000);
    }
    const ls = await cluster.dfs(['ls', '/']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stderr, /warning: plaintext \(--insecure\)/);

    // A TLS client (a certificate from some CA) meets the plaintext master.
    const dir = mkdtempSync(join(tmpdir(), 'dfs-tls-client-'));
    try {
      assert.equal((await runDfs(['admin', 'ca', 'init', '--dir', join(dir, 'ca')])).code, 0);
      assert.equal((await runDfs(['admin', 'cert', 'issue', '--role', 'client', '--name', 'alice', '--out', join(dir, 'alice'), '--ca', join(dir, 'ca')])).code, 0);
      const res = await runDfs(['ls', '/'], { env: { DFS_MASTERS: cluster.masterList, DFS_TLS_DIR: join(dir, 'alice') } });
      assert.notEqual(res.code, 0);
      const lines = res.stderr.trim().split('\n');
      assert.equal(lines.length, 1, res.stderr);
      assert.match(lines[0]!, new RegExp(`${cluster.masterList.replace(/\./g, '\\.')} speaks plaintext \\(started with --insecure\\?\\) but this process uses TLS`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dfs admin ca / cert: bad input', () => {
  it('answers a bad role, a bad name, a node without --host and a missing CA with one line each', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-ca-'));
    try {
      assert.equal((await runDfs(['admin', 'ca', 'init', '--dir', join(dir, 'ca')])).code, 0);
      const again = await runDfs(['admin', 'ca', 'init', '--dir', join(dir, 'ca')]);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /^dfs: .* already holds a CA/);
      const cases: Array<[string[], RegExp]> = [
        [['--role', 'root', '--name', 'x'], /--role: expected one of master, chunkserver, client, admin/],
        [['--role', 'client', '--name', '../etc'], /--name: not a valid id/],
        [['--role', 'master', '--name', 'm1'], /--host: a master certificate needs/],
      ];
      for (const [args, re] of cases) {
        const res = await runDfs(['admin', 'cert', 'issue', ...args, '--out', join(dir, 'out'), '--ca', join(dir, 'ca')]);
        assert.notEqual(res.code, 0);
        assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
        assert.match(res.stderr, re);
      }
      const noCa = await runDfs(['admin', 'cert', 'issue', '--role', 'client', '--name', 'bob', '--out', join(dir, 'bob'), '--ca', join(dir, 'nowhere')]);
      assert.match(noCa.stderr.trim(), /^dfs: no CA in .*nowhere/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
