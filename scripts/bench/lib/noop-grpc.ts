import * as grpc from '@grpc/grpc-js';

/*
 * A gRPC service that answers every call at once, and a client for it: the ceiling of a
 * client process (bench-meta) and the floor of one round trip (trace).
 */
const id = (b: Buffer): Buffer => b;
const definition = {
  call: { path: '/bench.Bench/Noop', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id, originalName: 'call' },
};

export function startNoopServer(): Promise<{ address: string; stop: () => void }> {
  const server = new grpc.Server();
  server.addService(definition, { call: (_c: unknown, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.alloc(0)) });
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(err);
      else resolve({ address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() });
    }),
  );
}

export interface NoopClient {
  call(): Promise<void>;
  close(): void;
}

export function noopClient(address: string): NoopClient {
  const Client = grpc.makeGenericClientConstructor(definition, 'Noop');
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { call(b: Buffer, cb: (e: Error | null) => void): void };
  const request = Buffer.alloc(64, 1);
  return {
    call: () => new Promise<void>((resolve, reject) => client.call(request, (e) => (e ? reject(e) : resolve()))),
    close: () => client.close(),
  };
}
