import { parentPort, workerData } from 'node:worker_threads';
import { DfsClient } from '@dfs/client';
import { toDfsError } from '@dfs/proto';
import type { GrowingFile } from './backend.js';
import { clientOptions, type ClusterConnection } from './dfs-backend.js';
import type { FromUploadThread, ToUploadThread } from './upload-thread.js';

/* The upload thread (upload-thread.ts): a DfsClient of its own that runs putGrowingFile. */

const port = parentPort!;
const client = new DfsClient(clientOptions(workerData as ClusterConnection));
const finals = new Map<number, { resolve(end: number): void; reject(err: Error): void }>();
let nextRequest = 1;

const send = (m: FromUploadThread): void => port.postMessage(m);

port.on('message', (m: ToUploadThread) => {
  if (m.kind === 'final') {
    const waiting = finals.get(m.request);
    finals.delete(m.request);
    if (m.error !== undefined) waiting?.reject(new Error(m.error));
    else waiting?.resolve(m.end ?? 0);
    return;
  }
  const growing: GrowingFile = {
    final: (end) =>
      new Promise<number>((resolve, reject) => {
        const request = nextRequest++;
        finals.set(request, { resolve, reject });
        send({ kind: 'final?', id: m.id, request, end });
      }),
  };
  client.putGrowingFile(m.localPath, m.remote, growing, m.opts).then(
    (status) => send({ kind: 'done', id: m.id, status }),
    (err: unknown) => {
      const e = toDfsError(err);
      send({ kind: 'failed', id: m.id, code: e.code, message: e.message });
    },
  );
});
