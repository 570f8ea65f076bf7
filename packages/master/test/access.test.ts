import assert from 'node:assert/strict';
import { ErrorCode } from '@dfs/proto';
import { authorize, callerOf, INSECURE_CALLER, RPC_ROLES } from '../src/access.js';

/** A call as grpc-js hands it to a handler: the peer certificate's SAN, or plaintext. */
function from(san: string | undefined): Parameters<typeof callerOf>[0] {
  return { getAuthContext: () => (san === undefined ? {} : { transportSecurityType: 'ssl', sslPeerCertificate: { subjectaltname: san } as never }) };
}

function deniedCode(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: ErrorCode }).code;
  }
}

describe('master access: roles from the caller certificate', () => {
  it('reads the identity from the SAN URI; a plaintext call is the insecure caller; a TLS peer without one is refused', () => {
    assert.deepEqual(callerOf(from('URI:dfs://user/alice, IP Address:127.0.0.1')), { role: 'client', name: 'alice' });
    assert.deepEqual(callerOf(from('DNS:localhost, URI:dfs://chunkserver/c3')), { role: 'chunkserver', name: 'c3' });
    assert.equal(callerOf(from(undefined)), INSECURE_CALLER);
    assert.equal(deniedCode(() => callerOf(from('DNS:localhost'))), ErrorCode.PERMISSION_DENIED);
    // Two identities in one certificate name nobody.
    assert.equal(deniedCode(() => callerOf(from('URI:dfs://admin/a, URI:dfs://user/b'))), ErrorCode.PERMISSION_DENIED);
  });

  it('admin RPCs only from admins, node RPCs only from that node, file RPCs from people', () => {
    const alice = from('URI:dfs://user/alice');
    const ops = from('URI:dfs://admin/ops');
    const c1 = from('URI:dfs://chunkserver/c1');
    const m1 = from('URI:dfs://master/m1');
    for (const rpc of ['Decommission', 'Balance', 'AddMaster', 'RemoveMaster', 'BackupMetadata']) {
      assert.equal(deniedCode(() => authorize(alice, rpc)), ErrorCode.PERMISSION_DENIED, rpc);
      assert.equal(deniedCode(() => authorize(c1, rpc)), ErrorCode.PERMISSION_DENIED, rpc);
      assert.equal(deniedCode(() => authorize(ops, rpc)), undefined, rpc);
    }
    for (const rpc of ['Register', 'Heartbeat']) {
      assert.equal(deniedCode(() => authorize(c1, rpc, 'c1')), undefined, rpc);
      assert.equal(deniedCode(() => authorize(c1, rpc, 'c2')), ErrorCode.PERMISSION_DENIED, `${rpc} as another node`);
      assert.equal(deniedCode(() => authorize(ops, rpc, 'ops')), ErrorCode.PERMISSION_DENIED, `${rpc} from an admin`);
      assert.equal(deniedCode(() => authorize(alice, rpc, 'alice')), ErrorCode.PERMISSION_DENIED, `${rpc} from a user`);
    }
    for (const rpc of ['CreateFile', 'Delete', 'Rename', 'Stat', 'Snapshot']) {
      assert.deepEqual(authorize(alice, rpc), { role: 'client', name: 'alice' });
      assert.equal(deniedCode(() => authorize(c1, rpc)), ErrorCode.PERMISSION_DENIED, rpc);
      assert.equal(deniedCode(() => authorize(m1, rpc)), ErrorCode.PERMISSION_DENIED, rpc);
    }
    assert.equal(deniedCode(() => authorize(c1, 'ReportBadReplica')), undefined);
    // An RPC missing from the table is refused to everyone (a new RPC must be placed in it).
    assert.equal(deniedCode(() => authorize(ops, 'SomethingNew')), ErrorCode.PERMISSION_DENIED);
    assert.equal(authorize(from(undefined), 'Decommission'), INSECURE_CALLER);
  });

  it('names every MasterService and ChunkserverControlService RPC', async () => {
    const { MasterServiceService, ChunkserverControlServiceService } = await import('@dfs/proto');
    const names = [...Object.values(MasterServiceService), ...Object.values(ChunkserverControlServiceService)].map((d) => (d as { path: string }).path.split('/').pop()!);
    for (const n of names) assert.ok(RPC_ROLES[n], `${n} has roles`);
  });
});
