// InferenceGrid: a virtualized table. The DataFrame stays in the kernel; this view draws only
// the rows on screen and asks the kernel for the pages it lacks (or, in a page saved without a
// kernel, sorts and pages the saved rows itself). Every value is set as text, never as HTML.
import { formatNumber } from "../shared/format";
import { h, injectStyle, setText } from "../shared/dom";
import { type Model, RequestError, Requester } from "../shared/request";
import { BASE_CSS } from "../shared/theme";
import { PageCache, missingSpan, pageKey, pagesFor } from "../grid/cache";
import { decodeWindow, splitPages } from "../grid/decode";
import { type LocalTable, decodeOffline, isOfflinePayload, localOrder, localWindow, toCsv } from "../grid/local";
import type { ColumnMeta, Page, Summary, ViewState, WindowData } from "../grid/types";
import {
  ariaSort, buildFilters, columnWidth, errorTint, filtersFromTrait, formatCell, isNumeric, nextSort,
  parseBound, summaryLine, summaryTooltip, viewKey,
} from "../grid/view";
import { type Layout, contentHeight, firstRowAt, keyTarget, rangeAt, rowsInView, scrollTopFor } from "../grid/virtual";

const ROW_H = 24;
const OVERSCAN = 6;
const INDEX_W = 90;
const HEADER_ROWS = 3; // names, summaries, filters: body rows start at aria-rowindex 4

const CSS = `
.qw-grid { display: flex; flex-direction: column; gap: 4px; }
.qw-grid-bar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; min-height: 24px; }
.qw-grid-spacer { flex: 1; }
.qw-grid-table { border: 1px solid var(--jp-border-color2, #e0e0e0); }
.qw-grid-head { overflow: hidden; background: var(--jp-layout-color2, #eee); border-bottom: 1px solid var(--jp-border-color1, #bdbdbd); }
.qw-grid-hrow, .qw-grid-row { display: grid; }
.qw-grid-cell { padding: 0 6px; height: ${ROW_H}px; line-height: ${ROW_H - 1}px; overflow: hidden; white-space: nowrap;
  text-overflow: ellipsis; border-right: 1px solid var(--jp-border-color3, #eee); }
.qw-grid-num { text-align: right; font-family: var(--jp-code-font-family, monospace); font-variant-numeric: tabular-nums; }
.qw-grid-idx { color: var(--jp-ui-font-color2, #616161); text-align: right; font-family: var(--jp-code-font-family, monospace); }
.qw-grid-root button.qw-grid-sort { background: none; border: none; padding: 0; width: 100%; text-align: left; font-weight: 600;
  display: flex; gap: 4px; align-items: center; cursor: pointer; }
.qw-grid-sort .qw-grid-name { overflow: hidden; text-overflow: ellipsis; }
.qw-grid-arrow { color: var(--jp-brand-color1, #1976d2); }
.qw-grid-sum { font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #616161); }
.qw-grid-filter { display: flex; gap: 2px; align-items: center; padding: 1px 3px; }
.qw-grid-filter input { width: 100%; min-width: 0; height: 20px; font-size: var(--jp-ui-font-size0, 11px); }
.qw-grid-filter input[aria-invalid="true"] { border-color: var(--jp-error-color1, #d32f2f); }
.qw-grid-scroll { overflow: auto; position: relative; overflow-anchor: none; }
.qw-grid-scroll:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 0; }
.qw-grid-sizer { position: relative; overflow: hidden; }
.qw-grid-block { position: absolute; left: 0; top: 0; will-change: transform; }
.qw-grid-row { height: ${ROW_H}px; border-bottom: 1px solid var(--jp-border-color3, #eee); }
.qw-grid-row[data-odd="1"] { background: var(--jp-layout-color2, #f7f7f7); }
.qw-grid-row.qw-grid-loading .qw-grid-idx { opacity: .5; }
.qw-grid-pred { background: color-mix(in srgb, var(--jp-brand-color1, #1976d2) 12%, transparent); }
.qw-grid-actual { background: color-mix(in srgb, var(--jp-success-color1, #388e3c) 12%, transparent); }
.qw-grid-error.qw-grid-hcell, .qw-grid-error.qw-grid-sum { background: color-mix(in srgb, var(--jp-error-color1, #d32f2f) 12%, transparent); }
.qw-grid-empty { padding: 8px; }
.qw-grid-status.qw-error { font-weight: 600; }
`;

function fmt(n: number): string {
  return formatNumber(n);
}

interface Source {
  window(offset: number, limit: number, s: ViewState): Promise<WindowData>;
  summaries(): Promise<Record<string, Summary>>;
  exportCsv(s: ViewState, progress: (text: string) => void): Promise<{ blob: Blob; note: string }>;
  readonly local: boolean;
  dispose(): void;
}

class KernelSource implements Source {
  readonly local = false;
  private req: Requester;
  constructor(private model: Model) {
    this.req = new Requester(model, 30_000);
  }

  private fields(s: ViewState): Record<string, unknown> {
    return { sort_by: s.sortBy, descending: s.descending, filters: s.filters, version: this.model.get("_version") };
  }

  async window(offset: number, limit: number, s: ViewState): Promise<WindowData> {
    const r = await this.req.request("window", { offset, limit, ...this.fields(s) }, { supersede: true });
    return decodeWindow(r.result, r.buffers);
  }

  async summaries(): Promise<Record<string, Summary>> {
    const r = await this.req.request("summary", { version: this.model.get("_version") });
    return r.result ?? {};
  }

  async exportCsv(s: ViewState, progress: (text: string) => void): Promise<{ blob: Blob; note: string }> {
    const parts: BlobPart[] = [];
    let start = 0;
    let note = "";
    for (;;) {
      const r = await this.req.request("export", { start, ...this.fields(s) });
      const res = r.result;
      const b = r.buffers[0];
      if (b) parts.push(new Uint8Array((b.buffer as ArrayBuffer).slice(b.byteOffset, b.byteOffset + b.byteLength)));
      note = res.message || "";
      progress(`Exporting… ${fmt(res.start + res.count)} of ${fmt(res.limit)} rows`);
      if (res.next === null || res.next === undefined) break;
      start = res.next;
    }
    return { blob: new Blob(parts, { type: "text/csv" }), note };
  }

  dispose(): void {
    this.req.dispose();
  }
}

class LocalSource implements Source {
  readonly local = true;
  private last: { key: string; order: number[] } | null = null;
  constructor(readonly table: LocalTable, private indexName: string) {}

  private order(s: ViewState): number[] {
    const key = viewKey(0, s);
    if (!this.last || this.last.key !== key) this.last = { key, order: localOrder(this.table, s) };
    return this.last.order;
  }

  async window(offset: number, limit: number, s: ViewState): Promise<WindowData> {
    return localWindow(this.table, this.order(s), offset, limit);
  }

  async summaries(): Promise<Record<string, Summary>> {
    return this.table.summaries;
  }

  async exportCsv(s: ViewState): Promise<{ blob: Blob; note: string }> {
    const order = this.order(s);
    const t = this.table;
    const note = t.rows < t.total ? `this page saved the first ${fmt(t.rows)} of ${fmt(t.total)} rows; the file holds those that match` : "";
    return { blob: new Blob([toCsv(t, order, this.indexName)], { type: "text/csv" }), note };
  }

  dispose(): void {}
}

interface Slot {
  row: HTMLDivElement;
  idx: HTMLDivElement;
  cells: HTMLDivElement[];
}

interface Inputs {
  min?: HTMLInputElement;
  max?: HTMLInputElement;
  contains?: HTMLInputElement;
}

function roleClass(col: ColumnMeta): string {
  return col.role ? ` qw-grid-${col.role}` : "";
}

function render({ model, el }: { model: Model; el: HTMLElement }): () => void {
  injectStyle(el, "base", BASE_CSS);
  injectStyle(el, "grid", CSS);

  let columns: ColumnMeta[] = [];
  let version = 0;
  let pageRows = 50;
  let frameRows = 0;
  let state: ViewState = readState();
  let total = 0;
  let totalKnown = false;
  const totals = new Map<string, number>();
  const cache = new PageCache<Page>(96);
  let asking: { span: string } | null = null; // the window request on its way
  let summaries: Record<string, Summary> = {};
  const scales: Record<string, number> = {};
  let summariesAsked = -1;
  let pinned: { st: number; first: number } | null = null;
  let source: Source = new KernelSource(model);
  let offlineRows: unknown = null;
  let disposed = false;
  let frame = 0;
  let filterTimer: ReturnType<typeof setTimeout> | undefined;

  const info = h("span", { class: "qw-muted qw-grid-info" });
  const status = h("span", { class: "qw-grid-status", role: "status", "aria-live": "polite" });
  const clearBtn = h("button", { type: "button", text: "Clear filters", "aria-label": "Clear all filters" });
  const exportBtn = h("button", {
    type: "button", text: "Export CSV", "aria-label": "Export the rows in view as CSV",
    title: "Download the rows in view, sorted and filtered as shown, as a CSV file",
  });
  const bar = h("div", { class: "qw-grid-bar" }, info, status, h("span", { class: "qw-grid-spacer" }), clearBtn, exportBtn);
  const headInner = h("div", { class: "qw-grid-head-inner" });
  const head = h("div", { class: "qw-grid-head", role: "rowgroup" }, headInner);
  const block = h("div", { class: "qw-grid-block", role: "presentation" });
  const sizer = h("div", { class: "qw-grid-sizer", role: "presentation" }, block);
  const empty = h("div", { class: "qw-grid-empty qw-muted", text: "No rows match the filters." });
  const scroller = h("div", {
    class: "qw-grid-scroll", role: "rowgroup", tabindex: 0,
    "aria-label": "Rows. Scroll, or use the arrow keys, Page Up, Page Down, Home and End",
  }, sizer, empty);
  const table = h("div", { class: "qw-grid-table", role: "grid", "aria-label": "InferenceGrid" }, head, scroller);
  const root = h("div", { class: "qw-root qw-grid qw-grid-root" }, bar, table);
  el.append(root);

  let pool: Slot[] = [];
  let headerCells: { col: ColumnMeta; cell: HTMLDivElement; arrow: HTMLSpanElement; sum: HTMLDivElement }[] = [];
  const inputs = new Map<string, Inputs>();

  function readState(): ViewState {
    const sortBy = model.get("sort_by");
    return {
      sortBy: typeof sortBy === "string" && sortBy ? sortBy : null,
      descending: !!model.get("descending"),
      filters: filtersFromTrait(model.get("filters")),
    };
  }

  function currentKey(): string {
    return viewKey(version, state);
  }

  function template(): string {
    return [`${INDEX_W}px`, ...columns.map((c) => `${columnWidth(c)}px`)].join(" ");
  }

  function width(): number {
    return INDEX_W + columns.reduce((a, c) => a + columnWidth(c), 0);
  }

  function showStatus(text: string, error = false): void {
    setText(status, text);
    status.classList.toggle("qw-error", error);
  }

  // ------------------------------------------------------------------ header

  function buildHeader(): void {
    headInner.replaceChildren();
    headerCells = [];
    inputs.clear();
    const names = h("div", { class: "qw-grid-hrow", role: "row", "aria-rowindex": 1 });
    const sums = h("div", { class: "qw-grid-hrow", role: "row", "aria-rowindex": 2 });
    const filters = h("div", { class: "qw-grid-hrow", role: "row", "aria-rowindex": 3 });
    for (const row of [names, sums, filters]) row.style.gridTemplateColumns = template();
    const indexName = String(model.get("_index")?.name ?? "");
    names.append(h("div", { class: "qw-grid-cell qw-grid-idx", role: "columnheader", text: indexName, title: indexName || "row" }));
    sums.append(h("div", { class: "qw-grid-cell qw-grid-sum", role: "gridcell" }));
    filters.append(h("div", { class: "qw-grid-cell qw-grid-sum", role: "gridcell", text: "filter" }));
    for (const col of columns) {
      const arrow = h("span", { class: "qw-grid-arrow", "aria-hidden": "true" });
      const btn = h("button", { type: "button", class: "qw-grid-sort", "aria-label": `Sort by ${col.name}` },
        h("span", { class: "qw-grid-name", text: col.name }), arrow);
      btn.addEventListener("click", () => {
        const next = nextSort(state, col.name);
        model.set("sort_by", next.sortBy);
        model.set("descending", next.descending);
        model.save_changes();
      });
      const cell = h("div", { class: `qw-grid-cell qw-grid-hcell${roleClass(col)}`, role: "columnheader", "aria-sort": "none" }, btn);
      const sum = h("div", { class: `qw-grid-cell qw-grid-sum${roleClass(col)}`, role: "gridcell" });
      names.append(cell);
      sums.append(sum);
      headerCells.push({ col, cell, arrow, sum });
      const box = h("div", { class: "qw-grid-cell qw-grid-filter", role: "gridcell" });
      const entry: Inputs = {};
      if (isNumeric(col.kind)) {
        entry.min = h("input", { type: "text", inputmode: "decimal", placeholder: "min", "aria-label": `${col.name}: at least` });
        entry.max = h("input", { type: "text", inputmode: "decimal", placeholder: "max", "aria-label": `${col.name}: at most` });
        box.append(entry.min, entry.max);
      } else {
        entry.contains = h("input", { type: "search", placeholder: "contains", "aria-label": `${col.name}: contains` });
        box.append(entry.contains);
      }
      for (const input of [entry.min, entry.max, entry.contains]) {
        if (!input) continue;
        input.addEventListener("input", () => {
          clearTimeout(filterTimer);
          filterTimer = setTimeout(applyFilters, 400);
        });
        input.addEventListener("change", applyFilters);
      }
      inputs.set(col.name, entry);
      filters.append(box);
    }
    headInner.append(names, sums, filters);
    headInner.style.width = `${width()}px`;
    table.setAttribute("aria-colcount", String(columns.length + 1));
    updateHeader();
    syncInputs();
  }

  function updateHeader(): void {
    for (const { col, cell, arrow, sum } of headerCells) {
      const sort = ariaSort(state, col.name);
      cell.setAttribute("aria-sort", sort);
      setText(arrow, sort === "ascending" ? "▲" : sort === "descending" ? "▼" : "");
      const s = summaries[col.name];
      cell.title = summaryTooltip(s, col);
      setText(sum, summaryLine(s, col));
      sum.title = cell.title;
    }
  }

  function syncInputs(): void {
    for (const [name, entry] of inputs) {
      const spec = state.filters[name] ?? {};
      const put = (input: HTMLInputElement | undefined, value: unknown) => {
        if (!input || document.activeElement === input) return;
        const text = value === undefined || value === null ? "" : String(value);
        if (input.value !== text && parseBound(input.value) !== value) input.value = text;
        input.removeAttribute("aria-invalid");
      };
      put(entry.min, spec.min);
      put(entry.max, spec.max);
      put(entry.contains, spec.contains);
    }
  }

  function applyFilters(): void {
    clearTimeout(filterTimer);
    const entries: { name: string; min?: number | null; max?: number | null; contains?: string }[] = [];
    const problems: string[] = [];
    for (const [name, entry] of inputs) {
      const e: { name: string; min?: number | null; max?: number | null; contains?: string } = { name };
      for (const side of ["min", "max"] as const) {
        const input = entry[side];
        if (!input) continue;
        const v = parseBound(input.value);
        if (v !== null && typeof v === "object") {
          input.setAttribute("aria-invalid", "true");
          problems.push(`${name} ${side}: ${v.error}`);
        } else {
          input.removeAttribute("aria-invalid");
          e[side] = v;
        }
      }
      if (entry.contains) e.contains = entry.contains.value;
      entries.push(e);
    }
    if (problems.length) {
      showStatus(problems.join("; "), true);
      return;
    }
    const next = buildFilters(entries);
    if (JSON.stringify(next) !== JSON.stringify(state.filters)) {
      model.set("filters", next);
      model.save_changes();
    }
  }

  // -------------------------------------------------------------------- body

  function makeSlot(): Slot {
    const idx = h("div", { class: "qw-grid-cell qw-grid-idx", role: "rowheader" });
    const cells = columns.map((c) => h("div", {
      class: `qw-grid-cell${isNumeric(c.kind) ? " qw-grid-num" : ""}${roleClass(c)}`, role: "gridcell",
    }));
    const row = h("div", { class: "qw-grid-row", role: "row" }, idx, ...cells);
    row.style.gridTemplateColumns = template();
    return { row, idx, cells };
  }

  function fill(slot: Slot, row: number, key: string): void {
    slot.row.setAttribute("aria-rowindex", String(row + HEADER_ROWS + 1));
    slot.row.dataset.odd = row % 2 ? "1" : "0";
    const p = Math.floor(row / pageRows);
    const page = cache.get(pageKey(key, p));
    const i = row - p * pageRows;
    if (!page || i >= page.index.length) {
      slot.row.classList.add("qw-grid-loading");
      setText(slot.idx, "…");
      for (const cell of slot.cells) setText(cell, "");
      return;
    }
    slot.row.classList.remove("qw-grid-loading");
    setText(slot.idx, formatCell(page.index[i], typeof page.index[i] === "number" ? "int" : "text"));
    columns.forEach((col, j) => {
      const cell = slot.cells[j];
      const value = page.columns[col.name]?.[i];
      const text = formatCell(value, col.kind);
      setText(cell, text);
      if (cell.title !== text) cell.title = text;
      if (col.role === "error") {
        const t = errorTint(value, scales[col.name]);
        const bg = t > 0 ? `color-mix(in srgb, var(--jp-error-color1, #d32f2f) ${Math.round(8 + t * 52)}%, transparent)` : "";
        if (cell.style.backgroundColor !== bg) cell.style.backgroundColor = bg;
      }
    });
  }

  function layout(): Layout {
    return { total, rowHeight: ROW_H, viewport: Math.max(ROW_H, scroller.clientHeight), overscan: OVERSCAN };
  }

  function draw(): void {
    frame = 0;
    if (disposed) return;
    scroller.style.maxHeight = `${Math.max(80, Number(model.get("height")) || 360)}px`;
    sizer.style.width = `${width()}px`;
    let l = layout();
    sizer.style.height = `${contentHeight(l)}px`;
    l = layout(); // the height just set may change the scroller's own
    const st = scroller.scrollTop;
    let first: number;
    if (pinned && Math.abs(pinned.st - st) < 1) first = pinned.first;
    else {
      pinned = null;
      first = firstRowAt(st, l);
    }
    const r = rangeAt(first, st, l);
    block.style.transform = `translateY(${r.top}px)`;
    const n = r.end - r.start;
    while (pool.length < n) {
      const slot = makeSlot();
      pool.push(slot);
      block.append(slot.row);
    }
    const key = currentKey();
    pool.forEach((slot, i) => {
      slot.row.hidden = i >= n;
      if (i < n) fill(slot, r.start + i, key);
    });
    // A view whose size is not known yet asks for its first page even if it looks empty.
    const pages = pagesFor(r.start, r.end, pageRows) ?? (totalKnown ? null : [0, 0]);
    if (pages) ask(key, pages[0], pages[1]);
    table.setAttribute("aria-rowcount", String(total + HEADER_ROWS));
    empty.hidden = !(totalKnown && total === 0);
    const top = Math.min(total, Math.floor(first) + 1);
    const bottom = Math.min(total, Math.floor(first + rowsInView(l) + 1e-9));
    setText(info, total === 0 ? (totalKnown ? "no rows" : "") : `rows ${fmt(top)}–${fmt(Math.max(top, bottom))} ${ofWhat()}`);
  }

  function ofWhat(): string {
    if (source instanceof LocalSource) {
      const t = source.table;
      const cut = t.rows < t.total ? ` (first ${fmt(t.rows)} of ${fmt(t.total)}; no kernel)` : "";
      return `of ${fmt(total)} saved rows${cut}`;
    }
    const filtered = Object.keys(state.filters).length > 0 && totalKnown;
    return `of ${fmt(total)}${filtered ? ` matching (${fmt(frameRows)} in all)` : ""}`;
  }

  function schedule(): void {
    if (!frame && !disposed) frame = requestAnimationFrame(draw);
  }

  function ask(key: string, p0: number, p1: number): void {
    const span = missingSpan(key, p0, p1, (k) => cache.has(k), 2);
    if (!span) return;
    const spanKey = `${key}|${span[0]}-${span[1]}`;
    if (asking && asking.span === spanKey) return;
    const [a, b] = span;
    const mine = { span: spanKey };
    asking = mine;
    const s = state;
    const v = version;
    source.window(a * pageRows, (b - a + 1) * pageRows, s).then((w) => {
      if (disposed || v !== version) return;
      const k = viewKey(v, s);
      totals.set(k, w.total);
      for (const [p, page] of splitPages(w, pageRows)) cache.set(pageKey(k, p), page);
      Object.assign(scales, w.scales);
      if (k === currentKey()) {
        total = w.total;
        totalKnown = true;
        if (status.classList.contains("qw-error")) showStatus("");
      }
      askSummaries();
      if (asking === mine) asking = null;
      schedule();
    }).catch((err: unknown) => {
      if (asking === mine) asking = null;
      if (disposed || (err instanceof RequestError && err.message === "superseded")) return;
      if (err instanceof RequestError && err.message.startsWith("stale request")) return;
      showStatus(`Could not load rows: ${err instanceof Error ? err.message : String(err)}`, true);
    });
  }

  function askSummaries(): void {
    if (summariesAsked === version) return;
    summariesAsked = version;
    const v = version;
    source.summaries().then((s) => {
      if (disposed || v !== version) return;
      summaries = s;
      updateHeader();
    }).catch(() => { summariesAsked = -1; });
  }

  // ------------------------------------------------------------------- events

  function onView(force = false): void {
    const before = currentKey();
    state = readState();
    if (!force && currentKey() === before) {
      // The kernel echoing a value it normalised (4990 -> 4990.0): same rows, keep the place.
      updateHeader();
      return;
    }
    pinned = null;
    scroller.scrollTop = 0;
    const known = totals.get(currentKey());
    if (known !== undefined) {
      total = known;
      totalKnown = true;
    } else totalKnown = false;
    updateHeader();
    syncInputs();
    schedule();
  }

  function setSource(force = false): void {
    const offline = !!model.get("_offline");
    const saved = model.get("_offline_rows");
    if (!force && offline === source.local && (!offline || saved === offlineRows)) return;
    source.dispose();
    offlineRows = offline ? saved : null;
    // Offline, never wait on a kernel: with nothing saved the view is simply empty.
    const payload = isOfflinePayload(saved) ? saved : { columns: [], data: {}, index: [], rows: 0, total: 0 };
    source = offline
      ? new LocalSource(decodeOffline(payload, columns), String(model.get("_index")?.name ?? ""))
      : new KernelSource(model);
    asking = null;
    cache.clear();
    totals.clear();
    summariesAsked = -1;
    exportBtn.title = offline
      ? "Download the saved rows in view, sorted and filtered as shown, as CSV"
      : "Download the rows in view, sorted and filtered as shown, as a CSV file";
    onView(true);
  }

  function rebuild(): void {
    version = Number(model.get("_version")) || 0;
    columns = (model.get("_columns") ?? []) as ColumnMeta[];
    pageRows = Math.max(1, Number(model.get("_page_rows")) || 50);
    frameRows = Number(model.get("_rows")) || 0;
    total = frameRows;
    totalKnown = false;
    cache.clear();
    totals.clear();
    asking = null;
    summaries = {};
    for (const k of Object.keys(scales)) delete scales[k];
    summariesAsked = -1;
    block.replaceChildren();
    pool = [];
    state = readState();
    buildHeader();
    setSource(true);
  }

  scroller.addEventListener("scroll", () => {
    head.scrollLeft = scroller.scrollLeft;
    schedule();
  });
  scroller.addEventListener("keydown", (e: KeyboardEvent) => {
    if (e.target !== scroller) return;
    const l = layout();
    const current = pinned ? pinned.first : firstRowAt(scroller.scrollTop, l);
    const target = keyTarget(e.key, current, l);
    if (target === null) return;
    e.preventDefault();
    scroller.scrollTop = scrollTopFor(target, l);
    pinned = { st: scroller.scrollTop, first: target };
    schedule();
  });
  clearBtn.addEventListener("click", () => {
    for (const entry of inputs.values()) for (const input of [entry.min, entry.max, entry.contains]) if (input) input.value = "";
    model.set("filters", {});
    model.save_changes();
  });
  exportBtn.addEventListener("click", async () => {
    exportBtn.disabled = true;
    showStatus("Exporting…");
    try {
      const { blob, note } = await source.exportCsv(state, (text) => showStatus(text));
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: "view.csv", hidden: true });
      root.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 30_000);
      showStatus(`Saved view.csv (${fmt(Math.round(blob.size / 1024))} KB)${note ? `: ${note}` : ""}`);
    } catch (err) {
      showStatus(`Export failed: ${err instanceof Error ? err.message : String(err)}`, true);
    } finally {
      exportBtn.disabled = false;
    }
  });

  const onViewChange = () => onView();
  const onVersion = () => rebuild();
  const onOffline = () => setSource();
  const onHeight = () => schedule();
  model.on("change:sort_by", onViewChange);
  model.on("change:descending", onViewChange);
  model.on("change:filters", onViewChange);
  model.on("change:_version", onVersion);
  model.on("change:_offline", onOffline);
  model.on("change:_offline_rows", onOffline);
  model.on("change:height", onHeight);

  rebuild();
  const resize = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => schedule());
  resize?.observe(scroller);

  return () => {
    disposed = true;
    if (frame) cancelAnimationFrame(frame);
    clearTimeout(filterTimer);
    resize?.disconnect();
    source.dispose();
    model.off("change:sort_by", onViewChange);
    model.off("change:descending", onViewChange);
    model.off("change:filters", onViewChange);
    model.off("change:_version", onVersion);
    model.off("change:_offline", onOffline);
    model.off("change:_offline_rows", onOffline);
    model.off("change:height", onHeight);
    root.remove();
  };
}

export default { render };
