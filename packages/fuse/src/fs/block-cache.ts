/**
 * A least-recently-used cache of file blocks bounded by bytes. Keys name an exact file
 * version, so a block is never stale: a new version simply misses.
 */
export class BlockCache {
  private readonly blocks = new Map<string, Buffer>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): Buffer | undefined {
    const block = this.blocks.get(key);
    if (block === undefined) return undefined;
    // Re-insert: Map order is our recency order.
    this.blocks.delete(key);
    this.blocks.set(key, block);
    return block;
  }

  set(key: string, block: Buffer): void {
    if (block.length > this.maxBytes) return;
    this.delete(key);
    this.blocks.set(key, block);
    this.bytes += block.length;
    for (const [oldKey, old] of this.blocks) {
      if (this.bytes <= this.maxBytes) break;
      this.blocks.delete(oldKey);
      this.bytes -= old.length;
    }
  }

  delete(key: string): void {
    const old = this.blocks.get(key);
    if (old === undefined) return;
    this.blocks.delete(key);
    this.bytes -= old.length;
  }

  get usedBytes(): number {
    return this.bytes;
  }

  get count(): number {
    return this.blocks.size;
  }
}
