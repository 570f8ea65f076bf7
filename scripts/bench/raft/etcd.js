'use strict';
// The etcd anchor for bench-raft: a 3-member etcd (3.4, `apt-get install etcd-server`)
// on loopback, each member its own process and data dir (etcd fsyncs its WAL per batch,
// like our raft.db), 64 concurrent clients putting 128-byte values to the leader through
// etcd's gRPC-gateway (HTTP/JSON, keep-alive). Returns undefined when etcd is missing.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { freePort } = require('@dfs/proto');

function post(agent, port, p, body) {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks).toString() || '{}')) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function benchEtcd({ concurrency, size, seconds }) {
  let version;
  try {
    version = execFileSync('etcd', ['--version']).toString().split('\n')[0].replace('etcd Version: ', '');
  } catch {
    console.log('etcd: not installed (apt-get install etcd-server); skipped');
    return undefined;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-etcd-'));
  const members = [];
  for (let i = 1; i <= 3; i++) members.push({ name: `e${i}`, client: await freePort(), peer: await freePort() });
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const procs = members.map((m) =>
    spawn('etcd', [
      '--name', m.name, '--data-dir', path.join(dir, m.name),
      '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', 'bench',
      '--log-level', 'error', '--logger', 'zap',
    ], { stdio: 'ignore' }),
  );
  const kill = () => procs.forEach((p) => p.kill('SIGKILL'));
  process.on('exit', kill);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    let leaderPort;
    for (let i = 0; i < 100 && !leaderPort; i++) {
      await new Promise((r) => setTimeout(r, 200));
      for (const m of members) {
        try {
          const st = await post(agent, m.client, '/v3/maintenance/status', {});
          if (st.leader && st.header && st.leader === st.header.member_id) leaderPort = m.client;
        } catch {
          // not up yet
        }
      }
    }
    if (!leaderPort) throw new Error('etcd elected no leader');
    const { load, etcdPut } = require('./grpc-load.js');
    const value = Buffer.alloc(size, 7);
    const r = await load({ address: `127.0.0.1:${leaderPort}`, method: '/etcdserverpb.KV/Put', request: (i) => etcdPut(Buffer.from(`k${i % 100000}`), value), concurrency, seconds });
    return { version, ...r, client: 'gRPC KV.Put from a separate process' };
  } finally {
    agent.destroy();
    kill();
    await new Promise((r) => setTimeout(r, 300));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { benchEtcd };
