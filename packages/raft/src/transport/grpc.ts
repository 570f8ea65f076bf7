import { createReadStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  DfsError,
  ErrorCode,
  channelOptions,
  crc32cOf,
  toDfsError,
  RaftServiceClient,
  RaftServiceService,
  type InstallSnapshotResponse,
  type RaftBatch,
  type RaftServiceServer,
  type RaftStreamAck,
  type SnapshotPiece,
} from '@dfs/proto';
import { callerOf, channelCredentials, describeIdentity, explainConnectError, type AuthenticatedCall, type Security } from '@dfs/security';
import type { Message } from '../core/types.js';
import { fromWire, toWire } from './codec.js';
import type { Transport, TransportHandler } from './transport.js';

/*
 * The gRPC transport: RaftService on the master's own server. Each node keeps one
 * client stream per peer and writes one RaftBatch per Ready to it (etcd's rafthttp
 * "stream" channel). Snapshots go on their own call, in SNAPSHOT_PIECE pieces, with
 * a CRC32C and length of the whole file checked by the receiver before it steps the
 * message into its core.
 */
export const SNAPSHOT_PIECE = 256 * 1024;

interface Peer {
  address: string;
  client: RaftServiceClient;
  stream: grpc.ClientWritableStream<RaftBatch> | undefined;
}

export interface GrpcTransportOptions {
  readonly id: string;
  readonly server: grpc.Server;
  /** Where incoming snapshot files are written. */
  readonly snapshotDir: string;
  readonly handler: TransportHandler;
  readonly logger?: { warn(...a: unknown[]): void; debug(...a: unknown[]): void };
  /** Mutual TLS (the default) or plaintext (--insecure) for the streams to peers. */
  readonly security: Security;
  /** Whether `id` is a current member: over TLS only members may send, each under its own id. */
  readonly isMember: (id: string) => boolean;
}

export class GrpcTransport implements Transport {
  private readonly peers = new Map<string, Peer>();
  private closed = false;
  private recvSeq = 0;

  constructor(private readonly opts: GrpcTransportOptions) {
    const impl: RaftServiceServer = {
      stream: (call, callback) => this.serveStream(call, callback),
      installSnapshot: (call, callback) => void this.serveSnapshot(call, callback),
    };
    opts.server.addService(RaftServiceService, impl);
  }

  setPeer(id: string, address: string): void {
    if (id === this.opts.id) return;
    const p = this.peers.get(id);
    if (p && p.address === address) return;
    if (p) this.closePeer(p);
    this.peers.set(id, { address, client: new RaftServiceClient(address, channelCredentials(this.opts.security), channelOptions()), stream: undefined });
  }

  removePeer(id: string): void {
    const p = this.peers.get(id);
    if (p) this.closePeer(p);
    this.peers.delete(id);
  }

  send(messages: readonly Message[]): void {
    if (this.closed) return;
    const byPeer = new Map<string, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list) list.push(m);
      else byPeer.set(m.to, [m]);
    }
    for (const [to, list] of byPeer) {
      const p = this.peers.get(to);
      if (!p) continue;
      const stream = this.streamTo(to, p);
      stream.write({ messages: list.map(toWire) });
    }
  }

  private streamTo(to: string, p: Peer): grpc.ClientWritableStream<RaftBatch> {
    if (p.stream) return p.stream;
    const stream = p.client.stream((err: grpc.ServiceError | null) => {
      if (p.stream === stream) p.stream = undefined;
      if (err && !this.closed) {
        const why = explainConnectError(toDfsError(err), p.address, this.opts.security).message;
        this.opts.logger?.debug({ peer: to, err: why }, 'raft stream closed');
        this.opts.handler.onUnreachable(to);
      }
    });
    stream.on('error', () => {
      if (p.stream === stream) p.stream = undefined;
    });
    p.stream = stream;
    return stream;
  }

  sendSnapshot(m: Message, path: string): void {
    const p = this.peers.get(m.to);
    if (!p || this.closed) {
      this.opts.handler.onSnapshotSent(m.to, false);
      return;
    }
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      this.opts.handler.onSnapshotSent(m.to, ok);
    };
    const call = p.client.installSnapshot((err: grpc.ServiceError | null, res?: InstallSnapshotResponse) => {
      if (err) this.opts.logger?.warn({ peer: m.to, err: err.message }, 'snapshot send failed');
      finish(!err && res?.accepted === true);
    });
    call.on('error', () => finish(false));
    void (async () => {
      let crc = 0;
      let size = 0;
      let first = true;
      const write = (piece: SnapshotPiece): Promise<void> =>
        new Promise((resolve) => {
          if (call.write(piece)) resolve();
          else call.once('drain', resolve);
        });
      try {
        const rs = createReadStream(path, { highWaterMark: SNAPSHOT_PIECE });
        for await (const chunk of rs as AsyncIterable<Buffer>) {
          crc = crc32cOf(chunk, crc);
          size += chunk.length;
          await write({ header: first ? toWire(m) : undefined, data: chunk, last: false, crc32c: 0, size: 0 });
          first = false;
        }
        await write({ header: first ? toWire(m) : undefined, data: Buffer.alloc(0), last: true, crc32c: crc, size });
        call.end();
      } catch (err) {
        this.opts.logger?.warn({ peer: m.to, err: String(err) }, 'snapshot read failed');
        call.cancel();
        finish(false);
      }
    })();
  }

  /**
   * Who may send on this call: over TLS, a master certificate, and only messages whose
   * sender is that certificate's id and a current member. Undefined = plaintext (--insecure).
   */
  private senderPolicy(call: AuthenticatedCall & { getPeer(): string }): { caller: string | undefined } | DfsError {
    const caller = callerOf(call);
    if (caller === undefined) return { caller: undefined };
    if (caller === null || caller.role !== 'master') {
      return new DfsError(ErrorCode.PERMISSION_DENIED, `raft: ${describeIdentity(caller)} is not a master`);
    }
    return { caller: caller.name };
  }

  private senderRejected(caller: string | undefined, from: string): string | undefined {
    if (caller === undefined) return undefined;
    if (from !== caller) return `message from ${JSON.stringify(from)} on the stream of master ${caller}`;
    if (!this.opts.isMember(from)) return `message from ${from}, not a member`;
    return undefined;
  }

  private serveStream(call: grpc.ServerReadableStream<RaftBatch, RaftStreamAck>, callback: grpc.sendUnaryData<RaftStreamAck>): void {
    const policy = this.senderPolicy(call);
    if (policy instanceof DfsError) {
      this.opts.logger?.warn({ peer: call.getPeer(), err: policy.message }, 'raft stream refused');
      callback(policy.toServiceError() as grpc.ServiceError, null);
      return;
    }
    let warned = false;
    call.on('data', (batch: RaftBatch) => {
      if (this.closed) return;
      for (const w of batch.messages) {
        const rejected = this.senderRejected(policy.caller, w.from);
        if (rejected) {
          // Once per stream: a stranger must not be able to flood the log.
          if (!warned) this.opts.logger?.warn({ peer: call.getPeer(), err: rejected }, 'raft message refused');
          warned = true;
          continue;
        }
        try {
          this.opts.handler.onMessage(fromWire(w));
        } catch (err) {
          this.opts.logger?.warn({ err: String(err) }, 'bad raft message');
        }
      }
    });
    call.on('end', () => callback(null, {}));
    call.on('error', () => undefined);
  }

  private async serveSnapshot(call: grpc.ServerReadableStream<SnapshotPiece, InstallSnapshotResponse>, callback: grpc.sendUnaryData<InstallSnapshotResponse>): Promise<void> {
    const policy = this.senderPolicy(call);
    if (policy instanceof DfsError) {
      this.opts.logger?.warn({ peer: call.getPeer(), err: policy.message }, 'raft snapshot refused');
      callback(policy.toServiceError() as grpc.ServiceError, null);
      return;
    }
    const tmp = join(this.opts.snapshotDir, `incoming-${process.pid}-${++this.recvSeq}.tmp`);
    let fh: fsp.FileHandle | undefined;
    let header: Message | undefined;
    let crc = 0;
    let size = 0;
    let result: { crc32c: number; size: number } | undefined;
    try {
      fh = await fsp.open(tmp, 'w');
      for await (const piece of call as AsyncIterable<SnapshotPiece>) {
        if (piece.header && !header) {
          const rejected = this.senderRejected(policy.caller, piece.header.from);
          if (rejected) throw new DfsError(ErrorCode.PERMISSION_DENIED, `raft snapshot: ${rejected}`);
          header = fromWire(piece.header);
        }
        if (piece.data.length > 0) {
          crc = crc32cOf(piece.data, crc);
          size += piece.data.length;
          await fh.write(piece.data);
        }
        if (piece.last) result = { crc32c: piece.crc32c, size: piece.size };
      }
      if (!header || !header.snapshot) throw new Error('snapshot without header');
      if (!result) throw new Error('snapshot stream ended early');
      if (result.size !== size || result.crc32c >>> 0 !== crc >>> 0) throw new Error(`snapshot checksum mismatch (size ${size}/${result.size}, crc ${crc}/${result.crc32c})`);
      await fh.sync();
      await fh.close();
      fh = undefined;
      const final = join(this.opts.snapshotDir, `recv-${header.snapshot.term}-${header.snapshot.index}.db`);
      await fsp.rename(tmp, final);
      this.opts.handler.onSnapshot(header, final);
      callback(null, { accepted: true, error: '' });
    } catch (err) {
      await fh?.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      this.opts.logger?.warn({ err: String(err) }, 'snapshot rejected');
      callback(null, { accepted: false, error: String(err) });
    }
  }

  private closePeer(p: Peer): void {
    p.stream?.end();
    p.stream = undefined;
    p.client.close();
  }

  close(): void {
    this.closed = true;
    for (const p of this.peers.values()) this.closePeer(p);
    this.peers.clear();
  }
}
