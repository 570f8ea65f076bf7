import type { Server } from '@grpc/grpc-js';

/** Stops a gRPC server: calls in flight may finish for up to `graceMs`, then the rest are cancelled. */
export function shutdownServer(server: Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
