import type { SingleBar } from 'cli-progress';
import { humanSize, rate } from './format.js';

/** A progress bar on a terminal, nothing when piped; a one-line summary at the end unless quiet. */
export class Progress {
  private bar: SingleBar | undefined;
  private readonly started = Date.now();
  private bytes = 0;

  constructor(private readonly label: string, total: number, private readonly quiet: boolean) {
    if (!quiet && process.stderr.isTTY && total > 0) {
      // Loaded only for a bar on a terminal: 20 modules no other command needs at start-up.
      const { SingleBar, Presets } = require('cli-progress') as typeof import('cli-progress');
      this.bar = new SingleBar(
        {
          format: `${label} [{bar}] {percentage}% | {done}/{size} | {speed} | ETA {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
        },
        Presets.shades_classic,
      );
      this.bar.start(total, 0, { done: '0', size: humanSize(total), speed: '' });
    }
  }

  update(bytes: number): void {
    this.bytes = bytes;
    this.bar?.update(bytes, { done: humanSize(bytes), speed: rate(bytes, Date.now() - this.started) });
  }

  finish(bytes = this.bytes): void {
    this.bar?.update(bytes, { done: humanSize(bytes), speed: rate(bytes, Date.now() - this.started) });
    this.bar?.stop();
    const ms = Date.now() - this.started;
    if (!this.quiet) process.stderr.write(`${this.label}: ${bytes} bytes in ${(ms / 1000).toFixed(2)}s (${rate(bytes, ms)})\n`);
  }

  abort(): void {
    this.bar?.stop();
  }
}
