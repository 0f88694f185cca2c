// Virtual scrolling maths: a scroll container whose content stands for every row, and the
// rows to draw for a scroll position. Browsers cap an element's height (Chrome ~33,554,432 px,
// Firefox ~17,895,697 px), so past MAX_SCROLL_PX the content is shorter than rows * rowHeight
// and a scroll position maps to a row proportionally: the first and last rows stay reachable.

export const MAX_SCROLL_PX = 10_000_000;

export interface Layout {
  total: number; // rows in the view
  rowHeight: number; // px
  viewport: number; // px of rows visible (the scroller's client height)
  overscan: number; // rows drawn beyond each edge
}

export interface Range {
  start: number; // first row drawn (inclusive)
  end: number; // last row drawn (exclusive)
  top: number; // px, in content coordinates, where row `start` is drawn
}

export function contentHeight(l: Layout): number {
  return Math.min(l.total * l.rowHeight, MAX_SCROLL_PX);
}

export function isScaled(l: Layout): boolean {
  return l.total * l.rowHeight > MAX_SCROLL_PX;
}

export function rowsInView(l: Layout): number {
  return l.viewport / l.rowHeight;
}

// The row (fractional) at the top of the viewport when every row is scrolled through.
export function maxFirstRow(l: Layout): number {
  return Math.max(0, l.total - rowsInView(l));
}

export function maxScrollTop(l: Layout): number {
  return Math.max(0, contentHeight(l) - l.viewport);
}

// The (fractional) row at the top of the viewport for a scroll position.
export function firstRowAt(scrollTop: number, l: Layout): number {
  const maxScroll = maxScrollTop(l);
  const st = Math.min(Math.max(0, scrollTop), maxScroll);
  if (!isScaled(l)) return st / l.rowHeight;
  return maxScroll > 0 ? (st / maxScroll) * maxFirstRow(l) : 0;
}

// The scroll position that puts `row` (fractional) at the top of the viewport.
export function scrollTopFor(row: number, l: Layout): number {
  const first = Math.min(Math.max(0, row), maxFirstRow(l));
  if (!isScaled(l)) return Math.min(first * l.rowHeight, maxScrollTop(l));
  const maxFirst = maxFirstRow(l);
  return maxFirst > 0 ? (first / maxFirst) * maxScrollTop(l) : 0;
}

// Rows to draw with `first` at the top of a viewport scrolled to `scrollTop`, and where.
export function rangeAt(first: number, scrollTop: number, l: Layout): Range {
  if (l.total <= 0) return { start: 0, end: 0, top: 0 };
  const f = Math.min(Math.max(0, first), maxFirstRow(l));
  const start = Math.max(0, Math.floor(f) - l.overscan);
  const end = Math.min(l.total, Math.ceil(f + rowsInView(l)) + l.overscan);
  const st = Math.min(Math.max(0, scrollTop), maxScrollTop(l));
  return { start, end, top: st - (f - start) * l.rowHeight };
}

export function visibleRange(scrollTop: number, l: Layout): Range {
  return rangeAt(firstRowAt(scrollTop, l), scrollTop, l);
}

// Where the keyboard moves the top row: by one row, a page, or to either end.
export function keyTarget(key: string, first: number, l: Layout): number | null {
  const page = Math.max(1, Math.floor(rowsInView(l)) - 1);
  const top = Math.round(first);
  switch (key) {
    case "ArrowDown": return Math.min(top + 1, Math.ceil(maxFirstRow(l)));
    case "ArrowUp": return Math.max(0, top - 1);
    case "PageDown": return Math.min(top + page, Math.ceil(maxFirstRow(l)));
    case "PageUp": return Math.max(0, top - page);
    case "Home": return 0;
    case "End": return maxFirstRow(l);
    default: return null;
  }
}
