import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { serverOptions } from '@dfs/proto';
import { INSECURE, serverCredentials } from '@dfs/security';
import { RaftNode } from '../../src/index.js';
import { SqliteKv } from './sqlite-kv.js';

/*
 * One RaftNode in its own process, driven over IPC by crash.test.ts (which SIGKILLs it).
 * argv[2]: JSON { id, peers, dir, snapshotEvery }.
 */
interface Args {
  id: string;
  peers: Array<{ id: string; address: string }>;
  dir: string;
  snapshotEvery: number;
}

type Request = { seq: number; cmd: 'status' } | { seq: number; cmd: 'propose'; k: string; v: string } | { seq: number; cmd: 'get'; keys: string[] };

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as Args;
  const self = args.peers.find((p) => p.id === args.id);
  if (!self) throw new Error('not a peer');
  const server = new grpc.Server(serverOptions());
  const sm = new SqliteKv(join(args.dir, 'sm.db'));
  const node = RaftNode.create({ id: args.id, address: self.address, peers: args.peers, dir: join(args.dir, 'raft'), stateMachine: sm, server, security: INSECURE, tickMs: 20, electionTicks: 10, heartbeatTicks: 2, snapshotEvery: args.snapshotEvery });
  await new Promise<void>((res, rej) => server.bindAsync(self.address, serverCredentials(INSECURE), (e) => (e ? rej(e) : res())));
  await node.start();
  const send = (m: unknown): void => {
    process.send?.(m);
  };
  process.on('message', (raw: unknown) => {
    const r = raw as Request;
    if (r.cmd === 'status') send({ seq: r.seq, leader: node.isLeader(), applied: sm.appliedIndex() });
    else if (r.cmd === 'get') send({ seq: r.seq, values: r.keys.map((k) => sm.get(k) ?? null) });
    else if (r.cmd === 'propose') {
      node.propose(Buffer.from(JSON.stringify({ op: 'put', k: r.k, v: r.v }))).then(
        () => send({ seq: r.seq, ok: true }),
        (e: unknown) => send({ seq: r.seq, ok: false, error: String(e) }),
      );
    }
  });
  send({ ready: true });
}

main().catch((e: unknown) => {
  process.stderr.write(`${String(e)}\n`);
  process.exit(1);
});
