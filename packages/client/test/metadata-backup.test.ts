import assert from 'node:assert/strict';
import type { ClusterStatusResponse, MasterInfo } from '@dfs/proto';
import { BACKUP_MAX_LAG, backupSources } from '../src/metadata-backup.js';

function member(id: string, role: string, appliedIndex: number): MasterInfo {
  return { id, address: `127.0.0.1:700${id.slice(1)}`, role, term: 3, commitIndex: appliedIndex, appliedIndex };
}

function status(masters: MasterInfo[], leaderId: string): ClusterStatusResponse {
  return { leaderId, leaderAddress: '', masters } as unknown as ClusterStatusResponse;
}

describe('backupSources (where dfs admin backup reads from)', () => {
  it('caught-up followers first, most applied first, the leader last; lagging, unreachable and learner members never', () => {
    const s = status(
      [
        member('m1', 'leader', 10_000),
        member('m2', 'follower', 9_990),
        member('m3', 'follower', 9_999),
        member('m4', 'follower', 10_000 - BACKUP_MAX_LAG - 1),
        member('m5', 'unreachable', 10_000),
        member('m6', 'learner', 10_000),
      ],
      'm1',
    );
    assert.deepEqual(backupSources(s).map((m) => m.id), ['m3', 'm2', 'm1']);
  });

  it('a lone leader backs itself up; no leader known means no source', () => {
    assert.deepEqual(backupSources(status([member('m1', 'leader', 5)], 'm1')).map((m) => m.id), ['m1']);
    assert.deepEqual(backupSources(status([member('m1', 'follower', 5)], '')), []);
  });
});
