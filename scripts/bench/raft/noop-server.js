'use strict';
// A gRPC server that answers every call at once: the ceiling of the load generator itself.
const grpc = require('@grpc/grpc-js');
const id = (b) => b;
const server = new grpc.Server();
server.addService({ call: { path: '/bench.Bench/Noop', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } }, { call: (_c, cb) => cb(null, Buffer.alloc(0)) });
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.send({ port });
});
