/** A clock the caches read; tests pass a fake one. */
export type Clock = () => number;

/**
 * Entries that expire `ttlMs` after they were set, at most `maxEntries` of them (the
 * oldest insertion goes first). Used for file attributes and directory listings.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: Clock = Date.now,
  ) {}

  /** The value, or undefined when absent or expired. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, value: V): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** Replaces a live entry's value, keeping its expiry (a local edit must not extend what the master said). */
  update(key: string, value: V): void {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > this.now()) entry.value = value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Drops every key for which `match` is true. */
  deleteWhere(match: (key: string, value: V) => boolean): void {
    for (const [key, entry] of this.entries) if (match(key, entry.value)) this.entries.delete(key); // deleting while iterating a Map is safe
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
