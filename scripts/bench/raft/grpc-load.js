'use strict';
// A closed-loop load generator: `concurrency` callers each sending one unary gRPC call
// at a time (raw bytes, no codegen) for `seconds` after a 2 s warm-up. Used against both
// our bench service and etcd's KV.Put, from a separate process, so both pay the same client cost.
const grpc = require('@grpc/grpc-js');

const identity = (b) => b;

async function load({ address, method, request, concurrency, seconds }) {
  const Client = grpc.makeGenericClientConstructor({ call: { path: method, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } }, 'Load');
  const clients = Array.from({ length: 4 }, () => new Client(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  const lat = [];
  let count = 0;
  let errors = 0;
  let measuring = false;
  let stop = false;
  const one = (c, i) => new Promise((resolve) => c.call(request(i), (err) => resolve(err)));
  const worker = async (w) => {
    const c = clients[w % clients.length];
    let i = 0;
    while (!stop) {
      const t = process.hrtime.bigint();
      const err = await one(c, w * 1_000_000 + i++);
      if (err) {
        errors++;
        await new Promise((r) => setTimeout(r, 10));
      } else if (measuring) {
        count++;
        lat.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  await new Promise((r) => setTimeout(r, 2000));
  measuring = true;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  const elapsed = (Date.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  clients.forEach((c) => c.close());
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
  return { count, elapsed, perSec: count / elapsed, p50: q(0.5), p99: q(0.99), errors };
}

/** etcd's PutRequest {bytes key = 1; bytes value = 2;} encoded by hand. */
function etcdPut(key, value) {
  const field = (tag, b) => Buffer.concat([Buffer.from([tag]), varint(b.length), b]);
  return Buffer.concat([field(0x0a, key), field(0x12, value)]);
}

function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

module.exports = { load, etcdPut };
