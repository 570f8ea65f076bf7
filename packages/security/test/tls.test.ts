import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, TLSSocket } from 'node:tls';
import { ChannelCredentials, Metadata, Server, status, type ServiceError } from '@grpc/grpc-js';
import { MasterServiceClient, MasterServiceService, channelOptions, serverOptions, toDfsError, ClusterStatusResponse } from '@dfs/proto';
import {
  INSECURE,
  callerOf,
  channelCredentials,
  credentialPaths,
  explainConnectError,
  initCa,
  issueCertificate,
  reloadCredentials,
  refreshTrust,
  retireOldCas,
  rotateCa,
  serverCredentials,
  tlsFrom,
  type Identity,
  type Security,
} from '../src/index.js';

/** A server whose only RPC answers with the caller's identity (in leaderId) so tests can see what the server saw. */
async function startEcho(security: Security): Promise<{ address: string; server: Server }> {
  const server = new Server(serverOptions());
  server.addService(MasterServiceService, {
    clusterStatus: (call: Parameters<typeof callerOf>[0], cb: (e: unknown, r: ClusterStatusResponse) => void) => {
      const who = callerOf(call);
      cb(null, ClusterStatusResponse.fromPartial({ leaderId: who === undefined ? 'plaintext' : who === null ? 'anonymous' : `${who.role}/${who.name}` }));
    },
  } as never);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', serverCredentials(security), (e, p) => (e ? rej(e) : res(p))));
  return { address: `127.0.0.1:${port}`, server };
}

function ask(address: string, creds: ChannelCredentials): Promise<string> {
  const client = new MasterServiceClient(address, creds, channelOptions());
  return new Promise<string>((resolve, reject) => {
    client.clusterStatus({}, new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null, res?: ClusterStatusResponse) => {
      client.close();
      if (err) reject(err);
      else resolve(res!.leaderId);
    });
  });
}

describe('mutual TLS credentials', function () {
  this.timeout(30_000);
  let dir: string;
  const servers: Server[] = [];
  const ca = (): string => join(dir, 'ca');
  async function issue(name: string, role: Identity['role'], hosts = ['127.0.0.1', 'localhost']): Promise<Security> {
    const out = join(dir, `${role}-${name}`);
    await issueCertificate({ ca: ca(), identity: { role, name }, hosts, out });
    return tlsFrom(out);
  }
  async function serve(security: Security): Promise<string> {
    const s = await startEcho(security);
    servers.push(s.server);
    return s.address;
  }

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dfs-security-'));
    await initCa(ca());
  });
  afterEach(() => {
    for (const s of servers.splice(0)) s.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes keys 0600 and names the identity in a SAN URI the server reads from the call', async () => {
    const node = await issue('m1', 'master');
    const alice = await issue('alice', 'client');
    const admin = await issue('ops', 'admin');
    if (node.insecure) throw new Error('unreachable');
    assert.equal(statSync(credentialPaths(node.dir).key).mode & 0o777, 0o600);
    assert.equal(statSync(join(ca(), 'ca.key')).mode & 0o777, 0o600);
    const address = await serve(node);
    assert.equal(await ask(address, channelCredentials(alice)), 'client/alice');
    assert.equal(await ask(address, channelCredentials(admin)), 'admin/ops');
  });

  it('refuses a client without a certificate, a plaintext client, and a certificate from another CA', async () => {
    const node = await issue('m1', 'master');
    const address = await serve(node);
    if (node.insecure) throw new Error('unreachable');
    const noCert = ChannelCredentials.createSsl(readFileSync(credentialPaths(node.dir).ca));
    await assert.rejects(ask(address, noCert), (e: ServiceError) => e.code === status.UNAVAILABLE);
    await assert.rejects(ask(address, channelCredentials(INSECURE)), (e: ServiceError) => e.code === status.UNAVAILABLE);
    await initCa(join(dir, 'other-ca'));
    const strangerDir = join(dir, 'stranger');
    await issueCertificate({ ca: join(dir, 'other-ca'), identity: { role: 'admin', name: 'ops' }, hosts: ['127.0.0.1'], out: strangerDir });
    await assert.rejects(ask(address, channelCredentials(tlsFrom(strangerDir))), (e: ServiceError) => e.code === status.UNAVAILABLE);
  });

  it('a client refuses a server whose certificate is a user\'s or does not name the address dialled', async () => {
    const alice = await issue('alice', 'client');
    const posing = await serve(await issue('mallory', 'client'));
    await assert.rejects(ask(posing, channelCredentials(alice)), (e: ServiceError) => e.code === status.UNAVAILABLE && /not a dfs node/.test(e.details));
    // names only 127.0.0.2, while the client dials 127.0.0.1
    const elsewhere = await serve(await issue('m9', 'master', ['127.0.0.2']));
    await assert.rejects(ask(elsewhere, channelCredentials(alice)), (e: ServiceError) => e.code === status.UNAVAILABLE);
  });

  it('a TLS client meeting a plaintext server fails, and vice versa, each with one line naming the peer', async () => {
    const alice = await issue('alice', 'client');
    const plain = await serve(INSECURE);
    assert.equal(await ask(plain, channelCredentials(INSECURE)), 'plaintext');
    const err = await ask(plain, channelCredentials(alice)).then(() => undefined, (e: ServiceError) => e);
    assert.equal(err?.code, status.UNAVAILABLE);
    const explained = explainConnectError(toDfsError(err), plain, alice);
    assert.equal(explained.message, `${plain} speaks plaintext (started with --insecure?) but this process uses TLS`);
    const secure = await serve(await issue('m1', 'master'));
    const err2 = await ask(secure, channelCredentials(INSECURE)).then(() => undefined, (e: ServiceError) => e);
    assert.equal(err2?.code, status.UNAVAILABLE);
    assert.match(explainConnectError(toDfsError(err2), secure, INSECURE).message, new RegExp(`^${secure} closed a plaintext connection \\(does it require TLS\\?`));
  });

  it('reloads a re-issued certificate without a restart, and trusts old and new CAs during a rotation', async () => {
    const node = await issue('m1', 'master');
    const oldAlice = await issue('alice', 'client');
    if (node.insecure || oldAlice.insecure) throw new Error('unreachable');
    const address = await serve(node);
    assert.equal(await ask(address, channelCredentials(oldAlice)), 'client/alice');

    await rotateCa(ca());
    // A certificate from the new CA is not trusted by a server that has not picked up the bundle.
    const bob = await issue('bob', 'client');
    await assert.rejects(ask(address, channelCredentials(bob)), (e: ServiceError) => e.code === status.UNAVAILABLE);
    // Step one: everyone trusts old and new (no restart).
    for (const d of [node.dir, oldAlice.dir]) {
      refreshTrust(ca(), d);
      assert.equal(reloadCredentials(d), true);
    }
    assert.equal(await ask(address, channelCredentials(bob)), 'client/bob');
    assert.equal(await ask(address, channelCredentials(oldAlice)), 'client/alice');
    // Step two: the server gets a certificate from the new CA; old and new clients still get in.
    await issue('m1', 'master');
    assert.equal(reloadCredentials(node.dir), true);
    assert.equal(await ask(address, channelCredentials(oldAlice)), 'client/alice');
    assert.equal(await ask(address, channelCredentials(bob)), 'client/bob');

    // The switch ends: only the new CA is trusted, a certificate of the old one is refused.
    retireOldCas(ca());
    refreshTrust(ca(), node.dir);
    assert.equal(reloadCredentials(node.dir), true);
    await assert.rejects(ask(address, channelCredentials(oldAlice)), (e: ServiceError) => e.code === status.UNAVAILABLE);
    assert.equal(await ask(address, channelCredentials(bob)), 'client/bob');
  });

  it('keeps the old certificate when a new key does not match it', async () => {
    const node = await issue('m1', 'master');
    if (node.insecure) throw new Error('unreachable');
    const address = await serve(node);
    const alice = await issue('alice', 'client');
    const other = await issue('m2', 'master');
    if (other.insecure) throw new Error('unreachable');
    writeFileSync(credentialPaths(node.dir).key, readFileSync(credentialPaths(other.dir).key));
    assert.throws(() => reloadCredentials(node.dir));
    assert.equal(await ask(address, channelCredentials(alice)), 'client/alice');
  });

  it('speaks TLS 1.3 only: a TLS 1.2 client with a good certificate is refused', async () => {
    const node = await issue('m1', 'master');
    const alice = await issue('alice', 'client');
    if (alice.insecure) throw new Error('unreachable');
    const address = await serve(node);
    const [host, port] = address.split(':');
    const files = credentialPaths(alice.dir);
    const handshake = (maxVersion: 'TLSv1.2' | 'TLSv1.3'): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect({ host, port: Number(port), ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key), maxVersion, ALPNProtocols: ['h2'] }, () => {
          const protocol = `${socket.getProtocol() ?? ''} ${socket.getCipher().name}`;
          socket.destroy();
          resolve(protocol);
        });
        socket.on('error', reject);
      });
    assert.equal(await handshake('TLSv1.3'), 'TLSv1.3 TLS_AES_128_GCM_SHA256');
    await assert.rejects(handshake('TLSv1.2'), /protocol version|alert/i);
  });

  it('reads a connection\'s peer certificate once, and never lends one connection\'s identity to another', async () => {
    const address = await serve(await issue('m1', 'master'));
    const alice = await issue('alice', 'client');
    const admin = await issue('ops', 'admin');
    const original = TLSSocket.prototype.getPeerCertificate;
    // Counts the server's reads only (clients read the server's certificate in their handshake check).
    let reads = 0;
    TLSSocket.prototype.getPeerCertificate = function (this: TLSSocket, ...args: Parameters<TLSSocket['getPeerCertificate']>) {
      if ((this as unknown as { _tlsOptions?: { isServer?: boolean } })._tlsOptions?.isServer) reads++;
      return original.apply(this, args);
    } as TLSSocket['getPeerCertificate'];
    try {
      // Two channels, each one connection with its own certificate, calls interleaved.
      const asAlice = new MasterServiceClient(address, channelCredentials(alice), channelOptions());
      const asAdmin = new MasterServiceClient(address, channelCredentials(admin), channelOptions());
      const who = (client: MasterServiceClient): Promise<string> =>
        new Promise((resolve, reject) =>
          client.clusterStatus({}, new Metadata(), { deadline: Date.now() + 5000 }, (err: ServiceError | null, res?: ClusterStatusResponse) => (err ? reject(err) : resolve(res!.leaderId))),
        );
      try {
        const seen: string[] = [];
        for (let i = 0; i < 5; i++) seen.push(await who(asAlice), await who(asAdmin));
        assert.deepEqual(seen, Array.from({ length: 5 }, () => ['client/alice', 'admin/ops']).flat());
        // Ten calls on two connections: the server read each connection's certificate once.
        assert.equal(reads, 2, `the server read peer certificates ${reads} times for 10 calls on 2 connections`);
      } finally {
        asAlice.close();
        asAdmin.close();
      }
      // A new connection with another certificate is read afresh, not served from the cache.
      const before = reads;
      assert.equal(await ask(address, channelCredentials(await issue('bob', 'client'))), 'client/bob');
      assert.equal(reads, before + 1);
    } finally {
      TLSSocket.prototype.getPeerCertificate = original;
    }
  });

  it('rejects a bad identity name with a one-line error', async () => {
    await assert.rejects(issueCertificate({ ca: ca(), identity: { role: 'client', name: '../x' }, out: join(dir, 'x') }), /--name: not a valid id/);
  });
});
