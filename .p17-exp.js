// Experiment (not committed): upload/download throughput of a grpc-js stream, A/B on settings.
const { spawn } = require('child_process');
const grpc = require('@grpc/grpc-js');
const raw = (b) => b;
const SVC = {
  upload: { path: '/x.S/U', requestStream: true, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  download: { path: '/x.S/D', requestStream: false, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};
const MSG = Number(process.env.MSG || 65536);
if (process.argv[2] === 'sink') {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 8 << 20, 'grpc.max_send_message_length': 8 << 20 });
  const m = Buffer.alloc(MSG, 2);
  server.addService(SVC, {
    upload: (call, cb) => { call.on('data', () => {}); call.on('end', () => cb(null, Buffer.alloc(0))); },
    download: (call) => { const bytes = call.request.readDoubleLE(0); let s = 0; const pump = () => { while (s < bytes) { s += m.length; if (!call.write(m)) return void call.once('drain', pump); } call.end(); }; pump(); },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => {
    for (const h2 of server.http2Servers.keys()) h2.on('session', (s) => {
      const st = { initialWindowSize: Number(process.env.SWIN || 65535) };
      if (process.env.FRAME) st.maxFrameSize = Number(process.env.FRAME);
      s.settings(st);
      if (process.env.SWIN) s.setLocalWindowSize(Number(process.env.SWIN) * 8);
    });
    process.stdout.write(port + '\n');
    process.stdin.on('data', () => { const u = process.cpuUsage(); process.stdout.write(((u.user + u.system) / 1000).toFixed(0) + '\n'); });
  });
} else {
  (async () => {
    const child = spawn(process.execPath, [__filename, 'sink'], { stdio: ['pipe', 'pipe', 'inherit'], env: process.env });
    const port = await new Promise((r) => child.stdout.once('data', (d) => r(Number(String(d)))));
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc-node.flow_control_window': Number(process.env.CWIN || 65535), 'grpc.max_receive_message_length': 8 << 20 });
    const bytes = Number(process.env.BYTES || 256 * 1024 * 1024);
    const m = Buffer.alloc(MSG, 1);
    const cpu = async () => { child.stdin.write('x'); const srv = await new Promise((r) => child.stdout.once('data', (d) => r(Number(String(d))))); const u = process.cpuUsage(); return srv + (u.user + u.system) / 1000; };
    const c0 = await cpu();
    let t = process.hrtime.bigint();
    await new Promise((res, rej) => { const call = c.makeClientStreamRequest(SVC.upload.path, raw, raw, new grpc.Metadata(), {}, (e) => (e ? rej(e) : res())); let s = 0; const pump = () => { while (s < bytes) { s += m.length; if (!call.write(m)) return void call.once('drain', pump); } call.end(); }; pump(); });
    const up = bytes / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9);
    const c1 = await cpu();
    const req = Buffer.alloc(8); req.writeDoubleLE(bytes);
    t = process.hrtime.bigint();
    for await (const x of c.makeServerStreamRequest(SVC.download.path, raw, raw, req, new grpc.Metadata(), {})) void x;
    const down = bytes / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9);
    const c2 = await cpu();
    const MBs = bytes / 1e6;
    console.log(JSON.stringify({ upCpuMsPerMB: ((c1 - c0) / MBs).toFixed(2), downCpuMsPerMB: ((c2 - c1) / MBs).toFixed(2), MSG, FRAME: process.env.FRAME, SWIN: process.env.SWIN, CWIN: process.env.CWIN, up: up.toFixed(0), down: down.toFixed(0) }));
    c.close(); child.kill('SIGKILL');
  })();
}
