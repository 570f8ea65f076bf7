import type { Readable } from 'node:stream';
import { DfsError, ErrorCode } from '@dfs/proto';

/**
 * Pulls messages one at a time from an incoming gRPC stream with bounded buffering: the stream
 * is paused once `highWater` messages wait, so HTTP/2 flow control pushes back on the sender.
 * Unlike async iteration it also ends on the call's 'cancelled' event (grpc-js does not end or
 * error the stream then) and can be failed from outside (a downstream replica died).
 */
export class MessageQueue<T> {
  private readonly queue: T[] = [];
  private ended = false;
  private error?: Error;
  private waiter?: { resolve: (value: T | undefined) => void; reject: (err: Error) => void };

  constructor(
    private readonly stream: Readable,
    private readonly highWater = 8,
  ) {
    stream.on('data', (msg: T) => {
      this.queue.push(msg);
      if (this.queue.length >= this.highWater) stream.pause();
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('error', (err: Error) => this.fail(err));
    stream.on('cancelled', () => this.fail(new DfsError(ErrorCode.CANCELLED, 'the caller cancelled the request')));
  }

  /** The next message, or undefined at the end of the stream. Rejects once failed. */
  next(): Promise<T | undefined> {
    if (this.error) return Promise.reject(this.error);
    if (this.queue.length > 0) {
      const msg = this.queue.shift()!;
      if (this.queue.length < this.highWater / 2 && this.stream.isPaused()) this.stream.resume();
      return Promise.resolve(msg);
    }
    if (this.ended) return Promise.resolve(undefined);
    if (this.stream.isPaused()) this.stream.resume();
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Like `next`, but fails the queue with `onIdle()` when no message arrives within `ms`. */
  async nextWithin(ms: number, onIdle: () => Error): Promise<T | undefined> {
    // A message already waiting (the common case on a busy stream) needs no timer.
    if (this.error || this.queue.length > 0 || this.ended) return this.next();
    const timer = setTimeout(() => this.fail(onIdle()), ms);
    try {
      return await this.next();
    } finally {
      clearTimeout(timer);
    }
  }

  /** Fails the queue: a pending and every later `next` rejects with `err`. Drops buffered messages. */
  fail(err: Error): void {
    if (this.error) return;
    this.error = err;
    this.queue.length = 0;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.queue.length > 0) {
      this.waiter = undefined;
      w.resolve(this.queue.shift()!);
    } else if (this.ended) {
      this.waiter = undefined;
      w.resolve(undefined);
    }
  }
}
