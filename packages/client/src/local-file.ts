import { open } from 'node:fs/promises';
import { DfsError, ErrorCode, allocFramable } from '@dfs/proto';

/**
 * Bytes [start, end) of a local file, `ioBytes` per read, each read into a buffer with room in
 * front for the WriteChunk frame header (`allocFramable`): the message sent is then the read
 * buffer itself, not a copy of it. The next read is under way while the caller sends the last.
 * A file that ends before `end` (it shrank meanwhile) fails the read rather than the put
 * storing fewer bytes than it reported.
 */
export async function* readLocalRange(path: string, start: number, end: number, ioBytes: number): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  let next: Promise<Buffer> | undefined;
  const readAt = async (pos: number): Promise<Buffer> => {
    const want = Math.min(ioBytes, end - pos);
    const buf = allocFramable(want);
    const { bytesRead } = await fh.read(buf, 0, want, pos);
    if (bytesRead === 0) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `${path} ended at byte ${pos}, before ${end}: it changed while it was read`);
    return bytesRead === want ? buf : buf.subarray(0, bytesRead);
  };
  try {
    let pos = start;
    next = pos < end ? readAt(pos) : undefined;
    while (next) {
      const buf = await next;
      pos += buf.length;
      next = pos < end ? readAt(pos) : undefined;
      yield buf;
    }
  } finally {
    // A consumer that stops early leaves a read in flight: let it finish before closing the file.
    await next?.catch(() => undefined);
    await fh.close();
  }
}
