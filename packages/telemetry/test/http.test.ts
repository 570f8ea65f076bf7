import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpTls, initCa, issueCertificate, tlsFrom } from '@dfs/security';
import { Metrics, httpListenAddress, startHttp } from '../src/index.js';

describe('the HTTP status endpoint', () => {
  it('binds loopback for a bare port, and refuses every method but GET and HEAD (no page offers an action)', async () => {
    assert.equal(httpListenAddress('9100'), '127.0.0.1:9100');
    assert.equal(httpListenAddress(':9100'), '127.0.0.1:9100');
    assert.equal(httpListenAddress('127.0.0.5:9100'), '127.0.0.5:9100');
    const http = await startHttp(':0', new Metrics('master', 't'), { '/status': (_q, r) => void r.end('{}') });
    try {
      assert.match(http.address, /^127\.0\.0\.1:\d+$/);
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const res = await fetch(`http://${http.address}/status`, { method });
        assert.equal(res.status, 405, method);
      }
      assert.equal((await fetch(`http://${http.address}/status`)).status, 200);
    } finally {
      await http.close();
    }
  });

  it("serves HTTPS (TLS 1.3 only) with the node's certificate", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-https-'));
    try {
      await initCa(join(dir, 'ca'));
      await issueCertificate({ ca: join(dir, 'ca'), identity: { role: 'master', name: 'm1' }, hosts: ['127.0.0.1'], out: join(dir, 'm1') });
      const http = await startHttp('127.0.0.1:0', new Metrics('master', 't'), {}, { tls: httpTls(tlsFrom(join(dir, 'm1'))) });
      try {
        const port = Number(http.address.split(':')[1]);
        const ca = readFileSync(join(dir, 'm1', 'ca.crt'));
        const get = (opts: { maxVersion?: 'TLSv1.2' }): Promise<{ status: number; protocol: string }> =>
          new Promise((resolve, reject) => {
            const req = httpsRequest({ host: '127.0.0.1', port, path: '/healthz', ca, ...opts }, (res) => {
              const protocol = (res.socket as import('node:tls').TLSSocket).getProtocol() ?? '';
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode ?? 0, protocol }));
            });
            req.on('error', reject);
            req.end();
          });
        assert.deepEqual(await get({}), { status: 200, protocol: 'TLSv1.3' });
        await assert.rejects(get({ maxVersion: 'TLSv1.2' }), /protocol version|alert/i);
      } finally {
        await http.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
