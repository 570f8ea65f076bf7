import { ChunkServiceClient, channelCredentials, channelOptions } from '@dfs/proto';

/** One reusable gRPC channel per chunkserver address. */
export class ChunkserverPool {
  private readonly clients = new Map<string, ChunkServiceClient>();

  get(address: string): ChunkServiceClient {
    let client = this.clients.get(address);
    if (!client) {
      client = new ChunkServiceClient(address, channelCredentials(), channelOptions());
      this.clients.set(address, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
