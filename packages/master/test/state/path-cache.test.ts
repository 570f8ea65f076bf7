import assert from 'node:assert/strict';
import { DfsError, ErrorCode } from '@dfs/proto';
import { Prng } from '@dfs/testkit';
import { callerFor } from '../../src/auth/caller.js';
import type { Command } from '../../src/state/commands.js';
import type { MetadataStore } from '../../src/state/metadata-store.js';
import { StoreHarness, T0, createCmd, openStore, storePerTest } from '../helpers.js';

/*
 * The read queries resolve a path's parent through the path-resolution cache (path-cache.ts).
 * Whatever the commands do to directories, a cached read must answer exactly what a fresh
 * walk of the database answers.
 */

type Outcome = string;

function outcome(fn: () => { inode: number; type: number; mode: number }): Outcome {
  try {
    const s = fn();
    return `ok inode=${s.inode} type=${s.type} mode=${s.mode.toString(8)}`;
  } catch (err) {
    if (!(err instanceof DfsError)) throw err;
    return `${ErrorCode[err.code]}: ${err.message}`;
  }
}

describe('path-resolution cache (read queries)', () => {
  const fixture = storePerTest();
  let store: MetadataStore;
  let h: StoreHarness;
  const bob = callerFor('bob', ['users']);
  beforeEach(() => {
    h = fixture.h;
    store = h.store;
  });
  const mkdir = (path: string, mode = 0o755): Command => ({ type: 'Mkdir', path, parents: true, mode, now: T0 });

  it('serves repeated reads under one directory from the cache (one lookup for the last component)', () => {
    h.ok(mkdir('/a/b/c'));
    for (let i = 0; i < 5; i++) h.ok(createCmd(`/a/b/c/f${i}`, 'c1', { inline: '' }));
    const before = store.pathCacheStats();
    for (let i = 0; i < 5; i++) assert.equal(store.stat(`/a/b/c/f${i}`).name, `f${i}`);
    const after = store.pathCacheStats();
    assert.equal(after.misses - before.misses, 4, 'the first read resolves /, /a, /a/b, /a/b/c');
    assert.equal(after.hits - before.hits, 4, 'the other four find /a/b/c at once');
  });

  it('a renamed, deleted or re-created directory is never served from the cache', () => {
    h.ok(mkdir('/x/y'));
    h.ok(createCmd('/x/y/f', 'c1', { inline: '' }));
    const first = store.stat('/x/y/f').inode;
    h.ok({ type: 'Rename', src: '/x/y', dst: '/x/z', overwrite: false, now: T0 });
    assert.throws(() => store.stat('/x/y/f'), (e: DfsError) => e.code === ErrorCode.NOT_FOUND);
    assert.equal(store.stat('/x/z/f').inode, first);
    h.ok({ type: 'Delete', path: '/x/z', recursive: true, skipTrash: true, now: T0 });
    h.ok(mkdir('/x/z'));
    h.ok(createCmd('/x/z/f', 'c1', { inline: '' }));
    assert.notEqual(store.stat('/x/z/f').inode, first, 'the new directory\'s file, not the deleted one');
  });

  it('a chmod of an ancestor takes effect for cached paths at once', () => {
    h.ok(mkdir('/p/q'));
    h.ok(createCmd('/p/q/f', 'c1', { inline: '' }));
    assert.ok(store.stat('/p/q/f', bob));
    h.ok({ type: 'SetAttr', path: '/p', mode: 0o700, now: T0 });
    assert.throws(() => store.stat('/p/q/f', bob), (e: DfsError) => e.code === ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'SetAttr', path: '/p', mode: 0o755, now: T0 });
    assert.ok(store.stat('/p/q/f', bob));
  });

  it('answers what a fresh walk answers after every command of a random namespace history', () => {
    const seed = Number(process.env.DFS_SEED ?? Date.now() % 2 ** 31);
    console.log(`      seed ${seed} (DFS_SEED=${seed} repeats it)`);
    const prng = new Prng(seed);
    const names = ['a', 'b', 'c'];
    const somePath = (depth: number): string => '/' + Array.from({ length: depth }, () => prng.pick(names)).join('/');
    const probes = [...new Set(Array.from({ length: 60 }, () => somePath(1 + prng.int(4))))];
    for (let step = 0; step < 300; step++) {
      const path = somePath(1 + prng.int(3));
      const other = somePath(1 + prng.int(3));
      const kind = prng.int(7);
      const cmd: Command =
        kind === 0 ? mkdir(path, prng.pick([0o755, 0o700, 0o711]))
        : kind === 1 ? createCmd(path, 'c1', { inline: '', overwrite: true })
        : kind === 2 ? { type: 'Rename', src: path, dst: other, overwrite: prng.chance(0.5), now: T0 }
        : kind === 3 ? { type: 'Delete', path, recursive: true, skipTrash: true, now: T0 }
        : kind === 4 ? { type: 'SetAttr', path, mode: prng.pick([0o755, 0o700, 0o711, 0o744]), now: T0 }
        : kind === 5 ? { type: 'SetAttr', path, owner: prng.pick(['root', 'bob']), now: T0 }
        : mkdir(path);
      h.apply(cmd);
      // Read through the cache, then through a store that opened the same database just now.
      const fresh = openStore(fixture.dir);
      try {
        for (const p of probes) {
          for (const who of [undefined, bob]) {
            const cached = outcome(() => store.stat(p, who));
            const walked = outcome(() => fresh.stat(p, who));
            assert.equal(cached, walked, `seed ${seed} step ${step} (${JSON.stringify(cmd)}): stat ${p} as ${who?.user ?? 'root'}`);
          }
        }
      } finally {
        fresh.close();
      }
    }
    assert.ok(store.pathCacheStats().hits > 0, 'the cache was used');
  });
});

