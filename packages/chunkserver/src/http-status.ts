import type { Server } from 'node:http';
import type { ServerReadableStream, ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { Metrics, startHttp, type HttpTls } from '@dfs/telemetry';

/** A snapshot for the status page and /metrics. */
export interface StatusSnapshot {
  id: string;
  address: string;
  rack: string;
  leader: string | null;
  registered: boolean;
  chunks: number;
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  activeWrites: number;
  inflightCopies: number;
  scrubber: { passes: number; chunksVerified: number; bytesVerified: number; corruptFound: number };
}

/** Counters the data path moves, plus gauges read from a fresh snapshot at every scrape. */
export class ChunkserverMetrics {
  readonly metrics: Metrics;
  private readonly bytesIn;
  private readonly bytesOut;

  constructor(id: string, snapshot: () => Promise<StatusSnapshot>) {
    const m = new Metrics('chunkserver', id);
    this.metrics = m;
    this.bytesIn = m.counter('dfs_chunkserver_write_bytes_total', 'bytes received by WriteChunk streams (frames, before replication)');
    this.bytesOut = m.counter('dfs_chunkserver_read_bytes_total', 'bytes sent by ReadChunk streams');
    // prom-client runs every async collect() of a scrape concurrently: they share one snapshot.
    let pending: { at: number; value: Promise<StatusSnapshot> } | undefined;
    const fresh = (): Promise<StatusSnapshot> => {
      if (!pending || Date.now() - pending.at > 250) pending = { at: Date.now(), value: snapshot() };
      return pending.value;
    };
    m.gauge('dfs_chunkserver_chunks', 'replicas stored', [], async (g) => g.set((await fresh()).chunks));
    m.gauge('dfs_chunkserver_disk_bytes', 'disk capacity, used and free', ['kind'], async (g) => {
      const s = await fresh();
      g.set({ kind: 'capacity' }, s.capacityBytes);
      g.set({ kind: 'used' }, s.usedBytes);
      g.set({ kind: 'free' }, s.freeBytes);
    });
    m.gauge('dfs_chunkserver_active_writes', 'write pipelines in progress', [], async (g) => g.set((await fresh()).activeWrites));
    m.gauge('dfs_chunkserver_inflight_copies', 're-replication copies in progress', [], async (g) => g.set((await fresh()).inflightCopies));
    m.gauge('dfs_chunkserver_registered', '1 when registered with the master leader', [], async (g) => g.set((await fresh()).registered ? 1 : 0));
    m.counterFromTotal('dfs_chunkserver_scrub_passes_total', 'completed scrubber passes', async () => (await fresh()).scrubber.passes);
    m.counterFromTotal('dfs_chunkserver_scrub_bytes_total', 'bytes re-verified by the scrubber', async () => (await fresh()).scrubber.bytesVerified);
    m.counterFromTotal('dfs_chunkserver_scrub_corrupt_total', 'corrupt replicas found by the scrubber', async () => (await fresh()).scrubber.corruptFound);
    m.gauge('dfs_chunkserver_scrub_chunks_verified', 'chunks verified by the scrubber since start', [], async (g) => g.set((await fresh()).scrubber.chunksVerified));
  }

  /** Counts the bytes of the data-path streams (raw wire messages). */
  countBytes<S extends UntypedServiceImplementation>(impl: S): S {
    const writeChunk = impl.writeChunk as unknown as ((call: ServerReadableStream<Buffer | { raw: Buffer }, unknown>, cb: unknown) => void) | undefined;
    const readChunk = impl.readChunk as unknown as ((call: ServerWritableStream<unknown, Buffer>) => void) | undefined;
    const out: UntypedServiceImplementation = { ...impl };
    if (writeChunk) {
      out.writeChunk = ((call: ServerReadableStream<Buffer | { raw: Buffer }, unknown>, cb: unknown) => {
        call.on('data', (m: Buffer | { raw: Buffer }) => this.bytesIn.inc(Buffer.isBuffer(m) ? m.length : m.raw.length));
        return writeChunk(call, cb);
      }) as unknown as UntypedServiceImplementation[string];
    }
    if (readChunk) {
      out.readChunk = ((call: ServerWritableStream<unknown, Buffer>) => {
        const write = call.write.bind(call);
        call.write = ((chunk: Buffer, ...rest: unknown[]) => {
          this.bytesOut.inc(chunk.length);
          return (write as (c: Buffer, ...r: unknown[]) => boolean)(chunk, ...rest);
        }) as typeof call.write;
        return readChunk(call);
      }) as unknown as UntypedServiceImplementation[string];
    }
    return out as S;
  }
}

/** GET /status (JSON), /metrics (Prometheus, prom-client), /healthz. Read-only. */
export async function startHttpStatus(listen: string, snapshot: () => Promise<StatusSnapshot>, metrics: Metrics, tls?: HttpTls): Promise<{ server: Server; address: string }> {
  const status = async (_req: unknown, res: import('node:http').ServerResponse): Promise<void> => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(await snapshot(), null, 2)}\n`);
  };
  const endpoint = await startHttp(listen, metrics, { '/': status, '/status': status }, tls ? { tls } : {});
  return { server: endpoint.server, address: endpoint.address };
}
