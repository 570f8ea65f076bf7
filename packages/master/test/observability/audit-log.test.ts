import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, type AuditEntry } from '../../src/observability/audit-log.js';
import { tempDir } from '../helpers.js';

function entry(i: number): AuditEntry {
  return { time: new Date(i).toISOString(), user: 'alice', via: 'token', client: 'ipv4:127.0.0.1:5000', op: 'Mkdir', path: `/d${i}`, allowed: true, result: 'ok' }; // every line the same size
}

describe('AuditLog (one JSON line per operation, rotated by size)', () => {
  it('writes parseable lines and rotates audit.log → .1 → .2, dropping the oldest beyond keep', () => {
    const t = tempDir();
    try {
      const path = join(t.dir, 'audit.log');
      const line = Buffer.byteLength(JSON.stringify(entry(0)) + '\n');
      const log = new AuditLog({ path, maxBytes: line * 3, keep: 2 });
      for (let i = 0; i < 10; i++) log.record(entry(i)); // 3 lines per file: 0-2, 3-5, 6-8, 9
      log.close();
      const paths = (f: string): string[] => readFileSync(f, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as AuditEntry).path);
      assert.deepEqual(paths(path), ['/d9']);
      assert.deepEqual(paths(`${path}.1`), ['/d6', '/d7', '/d8']);
      assert.deepEqual(paths(`${path}.2`), ['/d3', '/d4', '/d5']);
      assert.equal(existsSync(`${path}.3`), false, 'only `keep` rotated files');
      const reopened = new AuditLog({ path, maxBytes: line * 3, keep: 2 });
      reopened.record(entry(10));
      reopened.close();
      assert.deepEqual(paths(path), ['/d9', '/d10'], 'appends after a restart');
    } finally {
      t.cleanup();
    }
  });

  it('writes the lines of one event-loop turn together, before the next turn', async () => {
    const t = tempDir();
    try {
      const path = join(t.dir, 'audit.log');
      const log = new AuditLog({ path });
      log.record(entry(1));
      log.record(entry(2));
      assert.equal(readFileSync(path, 'utf8'), '', 'queued, not yet written');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(readFileSync(path, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as AuditEntry).path), ['/d1', '/d2']);
      log.record(entry(3));
      log.close(); // close writes what is queued
      assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 3);
    } finally {
      t.cleanup();
    }
  });
});
