// Pages of rows already fetched, least recently used first out, so scrolling back to rows
// seen a moment ago draws them at once instead of asking the kernel again.

export class PageCache<T> {
  private map = new Map<string, T>();
  constructor(readonly maxPages = 64) {}

  get(key: string): T | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value); // now the most recently used
    }
    return value;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  set(key: string, value: T): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.maxPages) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }

  keys(): string[] {
    return [...this.map.keys()];
  }
}

export function pageKey(view: string, page: number): string {
  return `${view}#${page}`;
}

// Pages holding rows start..end (end exclusive); null when there are none.
export function pagesFor(start: number, end: number, pageRows: number): [number, number] | null {
  if (end <= start || pageRows <= 0) return null;
  return [Math.floor(start / pageRows), Math.floor((end - 1) / pageRows)];
}

// The pages to ask for: from the first to the last page of first..last that is neither cached
// nor on its way, at most `maxPages` of them (the rest are asked for when these arrive).
export function missingSpan(
  view: string, first: number, last: number, has: (key: string) => boolean, maxPages = 2,
): [number, number] | null {
  let a = -1;
  let b = -1;
  for (let p = first; p <= last; p++) {
    if (has(pageKey(view, p))) continue;
    if (a < 0) a = p;
    b = p;
  }
  if (a < 0) return null;
  return [a, Math.min(b, a + maxPages - 1)];
}
