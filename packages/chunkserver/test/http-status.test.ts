import assert from 'node:assert/strict';
import { request } from 'node:http';
import { seededBytes, waitFor } from '@dfs/testkit';
import { FakeMaster, Fleet, header, writeChunk } from './helpers.js';

function get(address: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const [host, port] = address.split(':');
    const req = request({ host, port: Number(port), path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP status endpoint', function () {
  this.timeout(20_000);
  it('serves /status as JSON and /metrics as Prometheus text', async () => {
    const master = await new FakeMaster().start();
    const fleet = new Fleet();
    try {
      const c1 = await fleet.start({ id: 'c1', masters: [master.address], http: '127.0.0.1:0' });
      assert.ok(c1.httpAddress);
      await writeChunk(fleet.client(c1.address), header({ handle: 1 }), seededBytes(1000));
      await waitFor('registration', () => master.registers.length > 0);
      const status = await get(c1.httpAddress!, '/status');
      assert.equal(status.status, 200);
      const s = JSON.parse(status.body) as { id: string; chunks: number; usedBytes: number };
      assert.equal(s.id, 'c1');
      assert.equal(s.chunks, 1);
      assert.equal(s.usedBytes, 1000);
      const metrics = await get(c1.httpAddress!, '/metrics');
      const ours = metrics.body.split('\n').filter((l) => l.startsWith('dfs_chunkserver_')).join('\n');
      assert.match(ours, /^dfs_chunkserver_chunks\{component="chunkserver",node="c1"\} 1$/m);
      assert.match(ours, /^dfs_chunkserver_write_bytes_total\{[^}]*node="c1"\} [1-9]/m);
      assert.equal((await get(c1.httpAddress!, '/nope')).status, 404);
    } finally {
      await fleet.stopAll();
      master.stop();
    }
  });
});
