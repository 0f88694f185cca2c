import { test } from "node:test";
import assert from "node:assert/strict";
import { PageCache, missingSpan, pageKey, pagesFor } from "../src/grid/cache";
import { decodeWindow, splitPages } from "../src/grid/decode";
import { decodeOffline, localOrder, localWindow, toCsv } from "../src/grid/local";
import type { ColumnMeta, ViewState } from "../src/grid/types";
import {
  ariaSort, buildFilters, errorTint, filtersFromTrait, formatCell, nextSort, parseBound, viewKey,
} from "../src/grid/view";
import {
  type Layout, MAX_SCROLL_PX, contentHeight, firstRowAt, isScaled, keyTarget, maxScrollTop, rangeAt,
  scrollTopFor, visibleRange,
} from "../src/grid/virtual";

const CHROME_MAX_PX = 33_554_432;

// ---------------------------------------------------------------- virtual scrolling

test("row range of an ordinary table is scrollTop / rowHeight, with overscan", () => {
  const l: Layout = { total: 1000, rowHeight: 24, viewport: 240, overscan: 3 };
  assert.equal(isScaled(l), false);
  assert.equal(contentHeight(l), 24_000);
  assert.equal(firstRowAt(240, l), 10);
  const r = visibleRange(240, l);
  assert.deepEqual(r, { start: 7, end: 23, top: 7 * 24 });
  assert.deepEqual(visibleRange(0, l), { start: 0, end: 13, top: 0 });
  const end = visibleRange(maxScrollTop(l), l);
  assert.equal(end.end, 1000);
  assert.equal(scrollTopFor(500, l), 500 * 24);
});

test("10,000,000 rows fit under the browser's height cap and every row is reachable", () => {
  const l: Layout = { total: 10_000_000, rowHeight: 24, viewport: 360, overscan: 4 };
  assert.equal(isScaled(l), true);
  assert.ok(contentHeight(l) <= MAX_SCROLL_PX && MAX_SCROLL_PX < CHROME_MAX_PX);
  assert.ok(10_000_000 * 24 > CHROME_MAX_PX); // unscaled it would not fit
  // The top, a middle row and the very last row, each put at the top of the viewport.
  for (const row of [0, 1, 1234, 5_000_000, 9_999_985]) {
    const st = scrollTopFor(row, l);
    assert.ok(st >= 0 && st <= maxScrollTop(l));
    assert.ok(Math.abs(firstRowAt(st, l) - row) < 1e-6, `row ${row}`);
    const r = rangeAt(row, st, l);
    assert.ok(r.start <= row && row < r.end);
  }
  // Scrolled to the bottom, the last row is drawn and ends exactly at the viewport's bottom.
  const st = maxScrollTop(l);
  const r = visibleRange(st, l);
  assert.equal(r.end, 10_000_000);
  const lastBottom = r.top + (r.end - r.start) * l.rowHeight;
  assert.ok(Math.abs(lastBottom - (st + l.viewport)) < 1e-3, `${lastBottom} vs ${st + l.viewport}`);
  // Rows only ever move forward as the scroll position grows.
  let previous = -1;
  for (let px = 0; px <= st; px += st / 997) {
    const f = firstRowAt(px, l);
    assert.ok(f >= previous);
    previous = f;
  }
});

test("keys move the top row by one row, a page, or to either end, even when scaled", () => {
  const l: Layout = { total: 10_000_000, rowHeight: 24, viewport: 240, overscan: 2 };
  assert.equal(keyTarget("ArrowDown", 41, l), 42);
  assert.equal(keyTarget("ArrowUp", 0, l), 0);
  assert.equal(keyTarget("PageDown", 100, l), 109);
  assert.equal(keyTarget("Home", 5_000_000, l), 0);
  assert.equal(keyTarget("End", 0, l), 10_000_000 - 10);
  assert.equal(keyTarget("x", 3, l), null);
  // One row down from the top of a scaled view really is row 1, not a jump of 24 rows.
  const target = keyTarget("ArrowDown", 0, l) as number;
  assert.equal(rangeAt(target, scrollTopFor(target, l), l).start, 0);
  assert.equal(Math.round(firstRowAt(scrollTopFor(target, l), l)), 1);
});

test("an empty view draws nothing", () => {
  assert.deepEqual(visibleRange(0, { total: 0, rowHeight: 24, viewport: 240, overscan: 3 }), { start: 0, end: 0, top: 0 });
});

// ------------------------------------------------------------------------ window cache

test("page cache keeps the most recently used pages", () => {
  const c = new PageCache<number>(3);
  c.set("a", 1);
  c.set("b", 2);
  c.set("c", 3);
  assert.equal(c.get("a"), 1); // a is now the most recent
  c.set("d", 4); // evicts b, the least recently used
  assert.deepEqual(c.keys(), ["c", "a", "d"]);
  assert.equal(c.has("b"), false);
  assert.equal(c.size, 3);
  c.clear();
  assert.equal(c.size, 0);
});

test("pages for a row range, and the span still to ask for", () => {
  assert.deepEqual(pagesFor(0, 1, 50), [0, 0]);
  assert.deepEqual(pagesFor(45, 105, 50), [0, 2]);
  assert.equal(pagesFor(10, 10, 50), null);
  const have = new Set([pageKey("v", 0), pageKey("v", 2)]);
  const has = (k: string) => have.has(k);
  assert.deepEqual(missingSpan("v", 0, 2, has), [1, 1]);
  assert.deepEqual(missingSpan("v", 0, 5, has), [1, 2]); // capped at two pages
  assert.deepEqual(missingSpan("v", 3, 5, has, 5), [3, 5]);
  assert.equal(missingSpan("v", 0, 0, has), null);
  assert.equal(missingSpan("other", 0, 0, has)?.[0], 0); // another view has no pages yet
});

test("scrolling back to seen rows needs no request", () => {
  const c = new PageCache<string>(8);
  const key = viewKey(0, { sortBy: null, descending: false, filters: {} });
  const asked: number[] = [];
  const visit = (start: number, end: number) => {
    const [a, b] = pagesFor(start, end, 50) as [number, number];
    const span = missingSpan(key, a, b, (k) => c.has(k), 2);
    if (span) for (let p = span[0]; p <= span[1]; p++) { asked.push(p); c.set(pageKey(key, p), `page ${p}`); }
  };
  visit(0, 30);
  visit(180, 230);
  visit(0, 30);
  assert.deepEqual(asked, [0, 3, 4]);
});

// ----------------------------------------------------------------------------- decode

function unaligned(bytes: ArrayBuffer): DataView {
  // As a comm message may deliver it: a view at an odd offset of a larger buffer.
  const big = new Uint8Array(bytes.byteLength + 3);
  big.set(new Uint8Array(bytes), 3);
  return new DataView(big.buffer, 3, bytes.byteLength);
}

test("window replies decode numbers from buffers and text from JSON", () => {
  const result = {
    offset: 100, count: 3, total: 10_000_000,
    index: { encoding: "i8", buffer: 0 },
    columns: [
      { name: "x", encoding: "f8", buffer: 1 },
      { name: "n", encoding: "i8", buffer: 2 },
      { name: "ok", encoding: "b1", buffer: 3 },
      { name: "s", encoding: "json", data: ["<img src=x onerror=alert(1)>", null, "b"] },
    ],
    scales: { x_error: 0.5 },
  };
  const buffers = [
    unaligned(new BigInt64Array([100n, 101n, 102n]).buffer),
    unaligned(new Float64Array([1.5, Number.NaN, -2]).buffer),
    unaligned(new BigInt64Array([1n, -(2n ** 62n), 3n]).buffer),
    unaligned(new Uint8Array([1, 0, 1]).buffer),
  ];
  const w = decodeWindow(result, buffers);
  assert.deepEqual(w.index, [100, 101, 102]);
  assert.equal(w.columns.x[0], 1.5);
  assert.ok(Number.isNaN(w.columns.x[1] as number));
  assert.deepEqual(w.columns.n, [1, "-4611686018427387904", 3]); // beyond 2**53: exact text
  assert.deepEqual(w.columns.ok, [1, 0, 1]);
  assert.deepEqual(w.columns.s, ["<img src=x onerror=alert(1)>", null, "b"]);
  assert.equal(w.total, 10_000_000);
  assert.equal(w.scales.x_error, 0.5);
});

test("a window splits into whole pages; a page cut short is left out unless it ends the view", () => {
  const w = { offset: 50, count: 70, total: 1000, index: Array.from({ length: 70 }, (_, i) => 50 + i), columns: { x: Array.from({ length: 70 }, (_, i) => i) }, scales: {} };
  const pages = splitPages(w, 50);
  assert.deepEqual([...pages.keys()], [1]);
  assert.equal(pages.get(1)?.index[0], 50);
  assert.equal(pages.get(1)?.index.length, 50);
  const tail = splitPages({ offset: 950, count: 45, total: 995, index: Array.from({ length: 45 }, (_, i) => i), columns: {}, scales: {} }, 50);
  assert.equal(tail.get(19)?.index.length, 45);
});

// ------------------------------------------------------------------ view state, cells

test("header clicks cycle ascending, descending, unsorted", () => {
  let s: ViewState = { sortBy: null, descending: false, filters: {} };
  const step = (col: string) => { s = { ...s, ...nextSort(s, col) }; return ariaSort(s, col); };
  assert.equal(step("x"), "ascending");
  assert.equal(step("x"), "descending");
  assert.equal(step("x"), "none");
  assert.equal(s.sortBy, null);
  step("x");
  assert.equal(step("y"), "ascending"); // another column starts ascending
  assert.equal(ariaSort(s, "x"), "none");
});

test("filter boxes read numbers or report what is wrong", () => {
  assert.equal(parseBound(" 1e3 "), 1000);
  assert.equal(parseBound(""), null);
  assert.deepEqual(parseBound("abc"), { error: '"abc" is not a number' });
  assert.deepEqual(buildFilters([{ name: "x", min: 0, max: null }, { name: "s", contains: "" }, { name: "t", contains: "ab" }]),
    { x: { min: 0 }, t: { contains: "ab" } });
  assert.deepEqual(filtersFromTrait({ x: { min: 1, max: "bad" }, y: null, s: { contains: "q" } }), { x: { min: 1 }, s: { contains: "q" } });
});

test("the view key ignores the order filters were given in", () => {
  const a = viewKey(1, { sortBy: "x", descending: true, filters: { a: { min: 1 }, b: { contains: "z" } } });
  const b = viewKey(1, { sortBy: "x", descending: true, filters: { b: { contains: "z" }, a: { min: 1 } } });
  assert.equal(a, b);
  assert.notEqual(a, viewKey(2, { sortBy: "x", descending: true, filters: { a: { min: 1 }, b: { contains: "z" } } }));
});

test("cells read as text; markup stays characters", () => {
  assert.equal(formatCell("<img src=x onerror=alert(1)>", "text"), "<img src=x onerror=alert(1)>");
  assert.equal(formatCell(Number.NaN, "float"), "NaN");
  assert.equal(formatCell(0.123456789, "float"), "0.12345679");
  assert.equal(formatCell(4999995.5, "float"), "4999995.5"); // no exponent, no grouping
  assert.equal(formatCell(4999, "float"), "4999");
  assert.equal(formatCell(2.5e-7, "float"), "2.5e-7");
  assert.equal(formatCell(Number.NEGATIVE_INFINITY, "float"), "-∞");
  assert.equal(formatCell(2024, "int"), "2024");
  assert.equal(formatCell(1, "bool"), "True");
  assert.equal(formatCell(null, "datetime"), "NaT");
  assert.equal(formatCell(null, "text"), "");
  assert.equal(errorTint(0.25, 0.5), 0.5);
  assert.equal(errorTint(-3, 0.5), 1);
  assert.equal(errorTint(Number.NaN, 0.5), 0);
});

// ------------------------------------------------------------------- offline (no kernel)

const METAS: ColumnMeta[] = [
  { name: "x", kind: "float", dtype: "float64", role: "", pair: "" },
  { name: "s", kind: "text", dtype: "object", role: "", pair: "" },
];

function table() {
  return decodeOffline({
    columns: ["x", "s"],
    data: { x: [2, null, 1, 2, "Infinity", 0.5], s: ["b", "A,b", null, "a", "c\"q", "B"] },
    index: [10, 11, 12, 13, 14, 15], rows: 6, total: 600,
  }, METAS);
}

test("offline rows sort stably with missing values last in both directions", () => {
  const t = table();
  const asc = localOrder(t, { sortBy: "x", descending: false, filters: {} });
  assert.deepEqual(asc, [5, 2, 0, 3, 4, 1]); // 0.5, 1, 2, 2 (row order kept), inf, NaN
  const desc = localOrder(t, { sortBy: "x", descending: true, filters: {} });
  assert.deepEqual(desc, [4, 0, 3, 2, 5, 1]); // ties keep row order, NaN still last
  const text = localOrder(t, { sortBy: "s", descending: false, filters: {} });
  assert.deepEqual(text, [1, 5, 3, 0, 4, 2]); // code-point order like Python; null last
  assert.deepEqual(localOrder(t, { sortBy: null, descending: false, filters: {} }), [0, 1, 2, 3, 4, 5]);
});

test("offline filters: inclusive ranges without NaN, text found ignoring case", () => {
  const t = table();
  const order = localOrder(t, { sortBy: null, descending: false, filters: { x: { min: 1, max: 2 } } });
  assert.deepEqual(order, [0, 2, 3]);
  assert.deepEqual(localOrder(t, { sortBy: null, descending: false, filters: { s: { contains: "b" } } }), [0, 1, 5]);
  const both = localOrder(t, { sortBy: "x", descending: true, filters: { x: { min: 1 }, s: { contains: "A" } } });
  assert.deepEqual(both, [3]);
  const w = localWindow(t, localOrder(t, { sortBy: "x", descending: false, filters: {} }), 4, 10);
  assert.equal(w.offset, 4);
  assert.equal(w.count, 2);
  assert.equal(w.total, 6);
  assert.deepEqual(w.index, [14, 11]);
  assert.equal(w.columns.x[0], Number.POSITIVE_INFINITY);
});

test("offline CSV quotes what needs quoting", () => {
  const t = table();
  const csv = toCsv(t, [1, 4, 2]);
  assert.equal(csv, ',x,s\n11,,"A,b"\n14,Infinity,"c""q"\n12,1,\n');
});
