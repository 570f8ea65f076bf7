import { ChunkServiceClient, channelOptions } from '@dfs/proto';
import { channelCredentials, type Security } from '@dfs/security';

/** One reusable gRPC channel per chunkserver address. */
export class ChunkserverPool {
  private readonly clients = new Map<string, ChunkServiceClient>();

  constructor(private readonly security: Security) {}

  get(address: string): ChunkServiceClient {
    let client = this.clients.get(address);
    if (!client) {
      client = new ChunkServiceClient(address, channelCredentials(this.security), channelOptions());
      this.clients.set(address, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
