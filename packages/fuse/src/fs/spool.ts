import { randomBytes } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The whole content of a file being written. Writes at any offset and truncates land
 * here; the content is uploaded as a new version on commit.
 *
 * It starts in memory and moves to a local temporary file in the spool directory once it
 * grows past `memoryLimit` (the client's inline-file limit by default): a small file costs
 * no file create, write, close or unlink, and its commit hands the bytes to the client as
 * a buffer (one inline CreateFile). Memory stays bounded by `memoryLimit` per open file.
 */
export class Spool {
  /** The content while it is small; undefined once it lives in `fh`. */
  private mem: Buffer | undefined;
  private fh: FileHandle | undefined;
  private filePath: string | undefined;
  private length = 0;
  /** A move to the file in progress (writes wait for it). */
  private spilling: Promise<FileHandle> | undefined;

  private constructor(
    private readonly dir: string,
    private readonly memoryLimit: number,
  ) {
    this.mem = memoryLimit > 0 ? Buffer.alloc(memoryLimit) : undefined;
  }

  static async create(dir: string, memoryLimit = 0): Promise<Spool> {
    const spool = new Spool(dir, memoryLimit);
    if (!spool.mem) await spool.toFile();
    return spool;
  }

  get size(): number {
    return this.length;
  }

  /** The local file holding the content, once there is one. */
  get path(): string | undefined {
    return this.filePath;
  }

  /**
   * What a commit uploads: a copy of the bytes while small (writes may go on during the
   * upload), else the local file's path.
   */
  get source(): Buffer | string {
    return this.mem ? Buffer.from(this.mem.subarray(0, this.length)) : this.filePath!;
  }

  /** Moves the content to a local file (for a large file, or to keep it for rescue); returns its path. */
  async persist(): Promise<string> {
    await this.toFile();
    return this.filePath!;
  }

  private toFile(): Promise<FileHandle> {
    if (this.fh) return Promise.resolve(this.fh);
    this.spilling ??= (async () => {
      const path = join(this.dir, `spool-${randomBytes(8).toString('hex')}`);
      let fh: FileHandle | undefined;
      try {
        fh = await open(path, 'w+', 0o600);
        // Writes that arrive meanwhile wait for this promise; the memory copy is still the truth.
        if (this.mem && this.length > 0) await writeAll(fh, this.mem, this.length, 0);
      } catch (err) {
        // A full spool disk: the content stays in memory and a later write may try again.
        await fh?.close().catch(() => undefined);
        await rm(path, { force: true });
        this.spilling = undefined;
        throw err;
      }
      this.filePath = path;
      this.fh = fh;
      this.mem = undefined;
      return fh;
    })();
    return this.spilling;
  }

  async read(out: Buffer, len: number, pos: number): Promise<number> {
    const want = Math.min(len, this.length - pos);
    if (want <= 0) return 0;
    if (this.mem) return this.mem.copy(out, 0, pos, pos + want);
    const fh = await this.toFile();
    let done = 0;
    while (done < want) {
      const { bytesRead } = await fh.read(out, done, want - done, pos + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async write(data: Buffer, len: number, pos: number): Promise<number> {
    if (this.mem && !this.spilling && pos + len <= this.memoryLimit) {
      data.copy(this.mem, pos, 0, len);
    } else {
      await writeAll(await this.toFile(), data, len, pos);
    }
    this.length = Math.max(this.length, pos + len);
    return len;
  }

  async truncate(size: number): Promise<void> {
    if (this.mem && !this.spilling && size <= this.memoryLimit) {
      // Bytes past the end read as zeros if the file grows again.
      if (size < this.length) this.mem.fill(0, size, this.length);
    } else {
      await (await this.toFile()).truncate(size);
    }
    this.length = size;
  }

  /** Appends a stream at the current end (used to copy in the committed content). */
  async append(source: AsyncIterable<Buffer>): Promise<void> {
    for await (const piece of source) await this.write(piece, piece.length, this.length);
  }

  async dispose(): Promise<void> {
    this.mem = undefined;
    const fh = await this.spilling?.catch(() => undefined);
    if (!fh || !this.filePath) return;
    await fh.close().catch(() => undefined);
    await rm(this.filePath, { force: true });
  }
}

async function writeAll(fh: FileHandle, data: Buffer, len: number, pos: number): Promise<void> {
  let done = 0;
  while (done < len) {
    const { bytesWritten } = await fh.write(data, done, len - done, pos + done);
    done += bytesWritten;
  }
}
