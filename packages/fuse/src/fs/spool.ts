import { randomBytes } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A local temporary file holding the whole content of a file being written. Writes at
 * any offset and truncates land here; the file is uploaded as a new version on commit.
 */
export class Spool {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private length: number,
  ) {}

  static async create(dir: string): Promise<Spool> {
    const path = join(dir, `spool-${randomBytes(8).toString('hex')}`);
    const fh = await open(path, 'w+', 0o600);
    return new Spool(path, fh, 0);
  }

  get size(): number {
    return this.length;
  }

  async read(out: Buffer, len: number, pos: number): Promise<number> {
    const want = Math.min(len, this.length - pos);
    if (want <= 0) return 0;
    let done = 0;
    while (done < want) {
      const { bytesRead } = await this.fh.read(out, done, want - done, pos + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async write(data: Buffer, len: number, pos: number): Promise<number> {
    let done = 0;
    while (done < len) {
      const { bytesWritten } = await this.fh.write(data, done, len - done, pos + done);
      done += bytesWritten;
    }
    this.length = Math.max(this.length, pos + len);
    return len;
  }

  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.length = size;
  }

  /** Appends a stream at the current end (used to copy in the committed content). */
  async append(source: AsyncIterable<Buffer>): Promise<void> {
    for await (const piece of source) await this.write(piece, piece.length, this.length);
  }

  async dispose(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}
