import type { Client } from '@grpc/grpc-js';

/** One gRPC client (channel) per remote address, reused by every call; closed on stop. */
export class ClientPool<C extends Client> {
  private readonly clients = new Map<string, C>();
  private closed = false;

  constructor(private readonly make: (address: string) => C) {}

  get(address: string): C {
    if (this.closed) throw new Error('client pool is closed');
    let client = this.clients.get(address);
    if (!client) {
      client = this.make(address);
      this.clients.set(address, client);
    }
    return client;
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
