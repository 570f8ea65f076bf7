import type { Client } from '@grpc/grpc-js';
import { DfsError } from './errors.js';
import { ErrorCode } from './gen/dfs/v1/common.js';

/**
 * One gRPC client (channel) per remote address, reused by every call, closed together.
 * Every process's peers — the client's chunkservers, a chunkserver's peers and masters — go
 * through one of these; the channel itself (credentials, options) comes from `make`.
 */
export class ChannelPool<C extends Client> {
  private readonly clients = new Map<string, C>();
  private closed = false;

  constructor(private readonly make: (address: string) => C) {}

  get(address: string): C {
    if (this.closed) throw new DfsError(ErrorCode.UNAVAILABLE, 'channel pool is closed');
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
