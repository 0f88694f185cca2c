// InferenceGrid: a virtualized table. The DataFrame stays in the kernel; this view draws only
// the rows on screen and asks the kernel for the pages it lacks (or, in a page saved without a
// kernel, sorts and pages the saved rows itself). Every value is set as text, never as HTML.
import type { AnyWidget, RenderProps } from "@anywidget/types";
import { formatNumber as fmt } from "../shared/format";
import { h, injectStyle, setText } from "../shared/dom";
import { RequestError, errorText } from "../shared/request";
import { BASE_CSS, ROOT_ATTRS, keepKeys, onThemeChange } from "../shared/theme";
import { watch } from "../shared/watch";
import { PageCache, missingSpan, pageKey, pagesFor } from "../grid/cache";
import { splitPages } from "../grid/decode";
import { Header } from "../grid/header";
import { decodeOffline, isOfflinePayload } from "../grid/local";
import { KernelSource, LocalSource, type Source } from "../grid/sources";
import { CSS, HEADER_ROWS, OVERSCAN, ROW_H, roleClass, rowWidth, template } from "../grid/style";
import type { ColumnMeta, GridTraits, Page, Summary, ViewState } from "../grid/types";
import { errorTint, filtersFromTrait, formatCell, isNumeric, viewKey } from "../grid/view";
import { type Layout, contentHeight, firstRowAt, keyTarget, rangeAt, rowsInView, scrollTopFor } from "../grid/virtual";

// How long the first window request may go unanswered before the rows saved with the
// notebook are shown: a reopened notebook's new kernel has never heard of this widget.
const NO_KERNEL_MS = 3000;

interface Slot {
  row: HTMLDivElement;
  idx: HTMLDivElement;
  cells: HTMLDivElement[];
}

function render({ model, el }: RenderProps<GridTraits>): () => void {
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
  // No kernel answers this view (a saved notebook reopened): the saved rows stand in.
  let noKernel = false;
  let kernelAnswered = false;
  let kernelTimer: ReturnType<typeof setTimeout> | undefined;

  const info = h("span", { class: "qw-muted qw-grid-info" });
  const status = h("span", { class: "qw-grid-status", role: "status", "aria-live": "polite" });
  const clearBtn = h("button", { type: "button", text: "Clear filters", "aria-label": "Clear all filters" });
  const exportBtn = h("button", {
    type: "button", text: "Export CSV", "aria-label": "Export the rows in view as CSV",
    title: "Download the rows in view, sorted and filtered as shown, as a CSV file",
  });
  const bar = h("div", { class: "qw-grid-bar" }, info, status, h("span", { class: "qw-grid-spacer" }), clearBtn, exportBtn);
  const header = new Header({ model, view: () => state, summaries: () => summaries, showStatus });
  const head = h("div", { class: "qw-grid-head", role: "rowgroup" }, header.el);
  const block = h("div", { class: "qw-grid-block", role: "presentation" });
  const sizer = h("div", { class: "qw-grid-sizer", role: "presentation" }, block);
  const empty = h("div", { class: "qw-grid-empty qw-muted", text: "No rows match the filters." });
  const scroller = h("div", {
    class: "qw-grid-scroll", role: "rowgroup", tabindex: 0,
    "aria-label": "Rows. Scroll, or use the arrow keys, Page Up, Page Down, Home and End",
  }, sizer, empty);
  const table = h("div", { class: "qw-grid-table", role: "grid", "aria-label": "InferenceGrid" }, head, scroller);
  const root = h("div", { class: "qw-root qw-grid qw-grid-root", ...ROOT_ATTRS }, bar, table);
  keepKeys(root);
  el.append(root);

  let pool: Slot[] = [];

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

  function showStatus(text: string, error = false): void {
    setText(status, text);
    status.classList.toggle("qw-error", error);
  }

  // -------------------------------------------------------------------- body

  function makeSlot(): Slot {
    const idx = h("div", { class: "qw-grid-cell qw-grid-idx", role: "rowheader" });
    const cells = columns.map((c) => h("div", {
      class: `qw-grid-cell${isNumeric(c.kind) ? " qw-grid-num" : ""}${roleClass(c)}`, role: "gridcell",
    }));
    const row = h("div", { class: "qw-grid-row", role: "row" }, idx, ...cells);
    row.style.gridTemplateColumns = template(columns);
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

  function maxHeight(): number {
    return Math.max(80, Number(model.get("height")) || 360);
  }

  function layout(): Layout {
    // Not laid out (a hidden tab or output, or not attached yet): the height the rows will
    // take once shown, not one row; the resize observer corrects any difference.
    const seen = scroller.clientHeight;
    const viewport = seen > 0 ? seen : Math.min(total * ROW_H, maxHeight());
    return { total, rowHeight: ROW_H, viewport: Math.max(ROW_H, viewport), overscan: OVERSCAN };
  }

  function draw(): void {
    frame = 0;
    if (disposed) return;
    scroller.style.maxHeight = `${maxHeight()}px`;
    sizer.style.width = `${rowWidth(columns)}px`;
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
      if (noKernel) return `of ${fmt(total)} rows saved with the notebook (no kernel answers)`;
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
    if (!source.local && !kernelAnswered) {
      waitForKernel();
      if (source.local) return; // switched to the saved rows; the redraw asks them
    }
    const span = missingSpan(key, p0, p1, (k) => cache.has(k), 2);
    if (!span) return;
    const spanKey = `${key}|${span[0]}-${span[1]}`;
    if (asking && asking.span === spanKey) return;
    const [a, b] = span;
    const mine = { span: spanKey };
    asking = mine;
    const s = state;
    const v = version;
    const asked = source;
    asked.window(a * pageRows, (b - a + 1) * pageRows, s).then((w) => {
      if (disposed || v !== version || asked !== source) return;
      const k = viewKey(v, s);
      totals.set(k, w.total);
      for (const [p, page] of splitPages(w, pageRows)) cache.set(pageKey(k, p), page);
      Object.assign(scales, w.scales);
      if (!asked.local) {
        kernelAnswered = true;
        clearTimeout(kernelTimer);
      }
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
      if (disposed || asked !== source || (err instanceof RequestError && err.message === "superseded")) return;
      if (err instanceof RequestError && err.message.startsWith("stale request")) return;
      showStatus(`Could not load rows: ${errorText(err)}`, true);
    });
  }

  function savedRows(): boolean {
    const saved = model.get("_offline_rows");
    return isOfflinePayload(saved) && saved.columns.length > 0;
  }

  function disconnected(): boolean {
    return el.closest(".jupyter-widgets-disconnected") !== null;
  }

  // Show the saved rows when the widget is marked disconnected, or when the first window
  // request goes unanswered; a kernel that answers first keeps the kernel's rows.
  function waitForKernel(): void {
    if (disconnected()) {
      useSaved();
      return;
    }
    if (kernelTimer !== undefined) return;
    kernelTimer = setTimeout(() => {
      if (!kernelAnswered && !disposed) useSaved();
    }, NO_KERNEL_MS);
  }

  function useSaved(): void {
    if (noKernel || !savedRows()) return;
    noKernel = true;
    setSource(true);
    showStatus("");
    probeKernel();
  }

  // A kernel that was only busy (a long cell) answers later: then its rows come back.
  function probeKernel(): void {
    const probe = new KernelSource(model);
    const again = () => {
      if (disposed || !noKernel) {
        probe.dispose();
        return;
      }
      probe.window(0, 1, state).then(() => {
        probe.dispose();
        if (disposed || !noKernel) return;
        noKernel = false;
        kernelAnswered = true;
        setSource(true);
      }).catch(() => {
        if (!disposed) kernelTimer = setTimeout(again, NO_KERNEL_MS);
      });
    };
    again();
  }

  function askSummaries(): void {
    if (summariesAsked === version) return;
    summariesAsked = version;
    const v = version;
    source.summaries().then((s) => {
      if (disposed || v !== version) return;
      summaries = s;
      header.update();
    }).catch(() => { summariesAsked = -1; });
  }

  // ------------------------------------------------------------------- events

  function onView(force = false): void {
    const before = currentKey();
    state = readState();
    if (!force && currentKey() === before) {
      // The kernel echoing a value it normalised (4990 -> 4990.0): same rows, keep the place.
      header.update();
      return;
    }
    pinned = null;
    scroller.scrollTop = 0;
    const known = totals.get(currentKey());
    if (known !== undefined) {
      total = known;
      totalKnown = true;
    } else totalKnown = false;
    header.update();
    header.syncInputs();
    schedule();
  }

  function setSource(force = false): void {
    const offline = !!model.get("_offline") || noKernel;
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
    columns = model.get("_columns") ?? [];
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
    header.build(columns, String(model.get("_index")?.name ?? ""));
    table.setAttribute("aria-colcount", String(columns.length + 1));
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
    header.clearInputs();
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
      showStatus(`Export failed: ${errorText(err)}`, true);
    } finally {
      exportBtn.disabled = false;
    }
  });

  const unwatch = [
    watch(model, ["sort_by", "descending", "filters"], () => onView()),
    watch(model, ["_version"], rebuild),
    watch(model, ["_offline", "_offline_rows"], () => setSource()),
    watch(model, ["height"], schedule),
  ];

  rebuild();
  // Every size change recomputes the rows in view and the info line (a theme or font change,
  // an output scrolled into view, a tab shown again).
  const resize = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => schedule());
  resize?.observe(scroller);
  resize?.observe(root);
  const unTheme = onThemeChange(schedule);

  return () => {
    disposed = true;
    if (frame) cancelAnimationFrame(frame);
    clearTimeout(kernelTimer);
    unTheme();
    header.dispose();
    resize?.disconnect();
    source.dispose();
    for (const off of unwatch) off();
    root.remove();
  };
}

export default { render } satisfies AnyWidget<GridTraits>;
