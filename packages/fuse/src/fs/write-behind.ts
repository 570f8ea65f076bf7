import type { FileStatus } from '@dfs/proto';
import type { FsBackend } from './backend.js';
import type { OpenFile } from './open-file.js';
import type { Spool } from './spool.js';
import { StreamingUpload } from './streaming-upload.js';

/** When to start, keep and finish write-behind uploads for the open files of a mount. */
export class WriteBehind {
  constructor(
    private readonly backend: FsBackend,
    private readonly enabled: boolean,
    /**
     * A file no larger than this may still end up inline (one CreateFile at close): its
     * stream starts only once a write takes it past this size.
     */
    private readonly startAfterBytes = 0,
  ) {}

  /** Before a write of [pos, pos + len) lands in the spool: start, keep or stop streaming. */
  beforeWrite(file: OpenFile, spool: Spool, pos: number, len: number, remote: string): void {
    // Only a file written strictly by appends from empty streams (decided at its first write).
    file.streamable ??= pos === 0 && spool.size === 0;
    if (pos !== spool.size) file.streamable = false;
    if (!file.streamable) {
      file.stopUpload();
    } else if (!file.upload && this.enabled && this.backend.putGrowingFile && pos + len > this.startAfterBytes && !file.orphan) {
      const mode = file.mode;
      const put = this.backend.putGrowingFile.bind(this.backend);
      file.upload = new StreamingUpload(remote, spool, (localPath, growing) => put(localPath, remote, growing, { overwrite: true, mode }));
    }
  }

  /** After the write landed: [0, end) is final. */
  afterWrite(file: OpenFile, end: number): void {
    file.upload?.advance(end);
  }

  /**
   * At commit: completes the upload if it still matches the spool and the file's path,
   * and returns the new version; null when the whole spool must be uploaded instead.
   */
  async finish(file: OpenFile, spool: Spool, remote: string): Promise<FileStatus | null> {
    const upload = file.upload;
    if (!upload) return null;
    file.upload = undefined;
    if (upload.aborted || upload.end !== spool.size || upload.remote !== remote) {
      upload.abort();
      return null;
    }
    upload.finish();
    try {
      return await upload.result;
    } catch {
      return null;
    }
  }
}
