import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePorts } from '../src/ports.js';

describe('freePorts', () => {
  it('hands out distinct bindable ports below the ephemeral range (no outgoing connection takes one before its server binds)', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = await freePorts(20);
    assert.equal(new Set(ports).size, 20);
    for (const port of ports) {
      assert.ok(port >= 10_000 && port < low!, `${port} is outside [10000, ${low})`);
      await new Promise<void>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
      });
    }
  });
});
