import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChunkLocation } from '@dfs/proto';
import { planSpans } from '../src/file-reader.js';
import { ReadPolicy } from '../src/read-policy.js';
import { resolveMasters, resolveSecurity } from '../src/index.js';

function chunk(handle: number, offset: number, length: number): ChunkLocation {
  return { handle, version: 1, offset, length, crc32c: 0, replicas: [] };
}

describe('planSpans', () => {
  const chunks = [chunk(1, 0, 10 * 1024 * 1024), chunk(2, 10 * 1024 * 1024, 100), chunk(3, 10 * 1024 * 1024 + 100, 64 * 1024 * 1024)];

  it('covers a range exactly with one span per chunk, never crossing a chunk', () => {
    const spans = planSpans(chunks, 3, 10 * 1024 * 1024 + 50);
    assert.deepEqual(spans.map((s) => [s.chunk.handle, s.start, s.end]), [[1, 3, 10 * 1024 * 1024], [2, 0, 50]]);
    const all = planSpans(chunks, 0, 74 * 1024 * 1024 + 100);
    assert.deepEqual(all.map((s) => [s.chunk.handle, s.start, s.end]), [[1, 0, 10 * 1024 * 1024], [2, 0, 100], [3, 0, 64 * 1024 * 1024]]);
  });

  it('plans nothing for an empty range', () => assert.deepEqual(planSpans(chunks, 5, 5), []));
});

describe('ReadPolicy', () => {
  const replicas = ['a', 'b', 'c'].map((id) => ({ id, address: `${id}:1`, rack: '' }));

  it('round-robin rotates the first choice', () => {
    const p = new ReadPolicy('round-robin');
    assert.deepEqual([0, 1, 2, 3].map(() => p.order(replicas)[0]!.id), ['a', 'b', 'c', 'a']);
  });

  it('least-loaded prefers the replica with fewest reads in flight', () => {
    const p = new ReadPolicy('least-loaded');
    p.begin('a:1');
    p.begin('b:1');
    assert.equal(p.order(replicas)[0]!.id, 'c');
    p.end('a:1');
    assert.equal(p.order(replicas)[0]!.id, 'a');
  });

  it('random always returns every replica once', () => {
    const p = new ReadPolicy('random');
    for (let i = 0; i < 20; i++) assert.deepEqual(p.order(replicas).map((r) => r.id).sort(), ['a', 'b', 'c']);
  });
});

describe('resolveMasters', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'dfs-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prefers the flag, then DFS_MASTERS, then the config file, then .dfs-data/cluster.json', () => {
    const env: NodeJS.ProcessEnv = { XDG_CONFIG_HOME: join(dir, 'config') };
    mkdirSync(join(dir, 'work', '.dfs-data'), { recursive: true });
    writeFileSync(join(dir, 'work', '.dfs-data', 'cluster.json'), JSON.stringify({ masters: [{ address: 'local:1' }] }));
    const sub = join(dir, 'work', 'deep', 'er');
    mkdirSync(sub, { recursive: true });
    assert.deepEqual(resolveMasters(undefined, env, sub).masters, ['local:1']);
    mkdirSync(join(dir, 'config', 'dfs'), { recursive: true });
    writeFileSync(join(dir, 'config', 'dfs', 'config.json'), JSON.stringify({ masters: ['conf:1', 'conf:2'] }));
    assert.deepEqual(resolveMasters(undefined, env, sub).masters, ['conf:1', 'conf:2']);
    assert.deepEqual(resolveMasters(undefined, { ...env, DFS_MASTERS: 'env:1,env:2' }, sub).masters, ['env:1', 'env:2']);
    assert.deepEqual(resolveMasters('flag:1', { ...env, DFS_MASTERS: 'env:1' }, sub).masters, ['flag:1']);
  });

  it('explains how to configure masters when none are found', () => {
    assert.throws(() => resolveMasters(undefined, { XDG_CONFIG_HOME: join(dir, 'none') }, dir), /--masters|DFS_MASTERS/);
  });
});

describe('resolveSecurity', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'dfs-config-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("finds credentials like the masters: flags, env (admin first for admin commands), config file, the local cluster's cluster.json", () => {
    const env: NodeJS.ProcessEnv = { XDG_CONFIG_HOME: join(dir, 'config') };
    mkdirSync(join(dir, 'work', '.dfs-data'), { recursive: true });
    writeFileSync(join(dir, 'work', '.dfs-data', 'cluster.json'), JSON.stringify({ masters: [], tls: { ca: '/c/ca', client: '/c/client', admin: '/c/admin' } }));
    const sub = join(dir, 'work', 'deep');
    mkdirSync(sub, { recursive: true });
    const dirOf = (r: ReturnType<typeof resolveSecurity>): string => (r.security.insecure ? 'insecure' : r.security.dir);
    assert.equal(dirOf(resolveSecurity({}, env, sub)), '/c/client');
    assert.equal(dirOf(resolveSecurity({ role: 'admin' }, env, sub)), '/c/admin');
    mkdirSync(join(dir, 'config', 'dfs'), { recursive: true });
    writeFileSync(join(dir, 'config', 'dfs', 'config.json'), JSON.stringify({ tlsDir: '/conf/user', adminTlsDir: '/conf/admin' }));
    assert.equal(dirOf(resolveSecurity({}, env, sub)), '/conf/user');
    assert.equal(dirOf(resolveSecurity({ role: 'admin' }, env, sub)), '/conf/admin');
    const withEnv = { ...env, DFS_TLS_DIR: '/env/user', DFS_ADMIN_TLS_DIR: '/env/admin' };
    assert.equal(dirOf(resolveSecurity({}, withEnv, sub)), '/env/user');
    assert.equal(dirOf(resolveSecurity({ role: 'admin' }, withEnv, sub)), '/env/admin');
    assert.equal(dirOf(resolveSecurity({ role: 'admin' }, { ...withEnv, DFS_INSECURE: '1' }, sub)), 'insecure');
    assert.equal(dirOf(resolveSecurity({ tlsDir: '/flag' }, withEnv, sub)), '/flag');
    assert.equal(dirOf(resolveSecurity({ insecure: true }, withEnv, sub)), 'insecure');
  });

  it('an insecure local cluster means plaintext; nothing found is an error, never a silent plaintext', () => {
    mkdirSync(join(dir, '.dfs-data'), { recursive: true });
    const env = { XDG_CONFIG_HOME: join(dir, 'none') };
    assert.throws(() => resolveSecurity({}, env, dir), /no TLS credentials: pass --tls-dir/);
    writeFileSync(join(dir, '.dfs-data', 'cluster.json'), JSON.stringify({ masters: [], insecure: true }));
    assert.equal(resolveSecurity({}, env, dir).security.insecure, true);
  });
});
