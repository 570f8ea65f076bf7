import { closeSync, existsSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';

/*
 * The audit log (HDFS hdfs-audit.log): one JSON line per namespace operation answered by
 * the leader, allowed or denied, in a file of its own, rotated by size:
 *   audit.log → audit.log.1 → … → audit.log.<keep> (the oldest is dropped).
 * Reads of file contents are logged when the file is opened (GetFile), not per chunk.
 */

export interface AuditEntry {
  /** ISO time. */
  time: string;
  user: string;
  /** token | certificate | default */
  via: string;
  /** The client's address as the server saw it. */
  client: string;
  op: string;
  path: string;
  dst?: string;
  allowed: boolean;
  /** "ok" or the error code name. */
  result: string;
}

export interface AuditLogOptions {
  path: string;
  /** Rotate when the file would pass this size. Default 64 MiB. */
  maxBytes?: number;
  /** Rotated files kept. Default 5. */
  keep?: number;
}

export class AuditLog {
  private fd: number;
  private size: number;
  private readonly maxBytes: number;
  private readonly keep: number;
  private pending: Buffer[] = [];
  private flushing: NodeJS.Immediate | undefined;

  constructor(private readonly opts: AuditLogOptions) {
    const ok = (v: number | undefined): v is number => v !== undefined && Number.isSafeInteger(v) && v > 0;
    this.maxBytes = ok(opts.maxBytes) ? opts.maxBytes : 64 * 1024 * 1024;
    this.keep = ok(opts.keep) ? opts.keep : 5;
    this.fd = openSync(opts.path, 'a', 0o600);
    this.size = statSync(opts.path).size;
  }

  /**
   * Queues the line; the lines of one event-loop turn are written together (one write, not
   * one per RPC), before any later turn's — so before a client can act on its answer.
   */
  record(entry: AuditEntry): void {
    if (this.fd < 0) return;
    this.pending.push(Buffer.from(JSON.stringify(entry) + '\n', 'utf8'));
    this.flushing ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = undefined;
    const lines = this.pending;
    this.pending = [];
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const write = (): void => {
      if (batchBytes > 0) writeSync(this.fd, batch.length === 1 ? batch[0]! : Buffer.concat(batch, batchBytes));
      this.size += batchBytes;
      batch = [];
      batchBytes = 0;
    };
    for (const line of lines) {
      if (this.size + batchBytes > 0 && this.size + batchBytes + line.length > this.maxBytes) {
        write();
        this.rotate();
      }
      batch.push(line);
      batchBytes += line.length;
    }
    write();
  }

  private rotate(): void {
    closeSync(this.fd);
    const p = this.opts.path;
    rmSync(`${p}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) if (existsSync(`${p}.${i}`)) renameSync(`${p}.${i}`, `${p}.${i + 1}`);
    renameSync(p, `${p}.1`);
    this.fd = openSync(p, 'a', 0o600);
    this.size = 0;
  }

  close(): void {
    if (this.flushing) clearImmediate(this.flushing);
    if (this.fd >= 0) {
      this.flush();
      closeSync(this.fd);
    }
    this.fd = -1;
  }
}
