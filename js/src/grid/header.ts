// The grid's three header rows: column names (click to sort), summaries, and filter inputs.
// Sort and filters go to the kernel as traits; the body redraws when they come back.
import type { AnyModel } from "@anywidget/types";
import { h, setText } from "../shared/dom";
import { roleClass, rowWidth, template } from "./style";
import type { ColumnMeta, GridTraits, Summary, ViewState } from "./types";
import { ariaSort, buildFilters, isNumeric, nextSort, parseBound, summaryLine, summaryTooltip } from "./view";

interface Inputs {
  min?: HTMLInputElement;
  max?: HTMLInputElement;
  contains?: HTMLInputElement;
}

interface HeaderCell {
  col: ColumnMeta;
  cell: HTMLDivElement;
  arrow: HTMLSpanElement;
  sum: HTMLDivElement;
}

type FilterEntry = { name: string; min?: number | null; max?: number | null; contains?: string };

// What the header reads of the grid it belongs to, at the time it needs it.
export interface HeaderHost {
  model: AnyModel<GridTraits>;
  view(): ViewState;
  summaries(): Record<string, Summary>;
  showStatus(text: string, error?: boolean): void;
}

export class Header {
  readonly el = h("div", { class: "qw-grid-head-inner" });
  private cells: HeaderCell[] = [];
  private readonly inputs = new Map<string, Inputs>();
  private filterTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly host: HeaderHost) {}

  build(columns: ColumnMeta[], indexName: string): void {
    this.el.replaceChildren();
    this.cells = [];
    this.inputs.clear();
    const names = h("div", { class: "qw-grid-hrow", role: "row", "aria-rowindex": 1 });
    const sums = h("div", { class: "qw-grid-hrow", role: "row", "aria-rowindex": 2 });
    const filters = h("div", { class: "qw-grid-hrow", role: "row", "aria-rowindex": 3 });
    for (const row of [names, sums, filters]) row.style.gridTemplateColumns = template(columns);
    names.append(h("div", { class: "qw-grid-cell qw-grid-idx", role: "columnheader", text: indexName, title: indexName || "row" }));
    sums.append(h("div", { class: "qw-grid-cell qw-grid-sum", role: "gridcell" }));
    filters.append(h("div", { class: "qw-grid-cell qw-grid-sum", role: "gridcell", text: "filter" }));
    for (const col of columns) {
      const { cell, sum } = this.nameCells(col);
      names.append(cell);
      sums.append(sum);
      filters.append(this.filterCell(col));
    }
    this.el.append(names, sums, filters);
    this.el.style.width = `${rowWidth(columns)}px`;
    this.update();
    this.syncInputs();
  }

  private nameCells(col: ColumnMeta): HeaderCell {
    const { model } = this.host;
    const arrow = h("span", { class: "qw-grid-arrow", "aria-hidden": "true" });
    const btn = h("button", { type: "button", class: "qw-grid-sort", "aria-label": `Sort by ${col.name}` },
      h("span", { class: "qw-grid-name", text: col.name }), arrow);
    btn.addEventListener("click", () => {
      const next = nextSort(this.host.view(), col.name);
      model.set("sort_by", next.sortBy);
      model.set("descending", next.descending);
      model.save_changes();
    });
    const cell = h("div", { class: `qw-grid-cell qw-grid-hcell${roleClass(col)}`, role: "columnheader", "aria-sort": "none" }, btn);
    const sum = h("div", { class: `qw-grid-cell qw-grid-sum${roleClass(col)}`, role: "gridcell" });
    const entry = { col, cell, arrow, sum };
    this.cells.push(entry);
    return entry;
  }

  private filterCell(col: ColumnMeta): HTMLDivElement {
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
    const apply = () => this.applyFilters();
    for (const input of [entry.min, entry.max, entry.contains]) {
      if (!input) continue;
      // typing waits for a pause; Enter or leaving the box applies at once
      input.addEventListener("input", () => {
        clearTimeout(this.filterTimer);
        this.filterTimer = setTimeout(apply, 400);
      });
      input.addEventListener("change", apply);
    }
    this.inputs.set(col.name, entry);
    return box;
  }

  // Sort arrows and summaries, for the view state and summaries of now.
  update(): void {
    const state = this.host.view();
    const summaries = this.host.summaries();
    for (const { col, cell, arrow, sum } of this.cells) {
      const sort = ariaSort(state, col.name);
      cell.setAttribute("aria-sort", sort);
      setText(arrow, sort === "ascending" ? "▲" : sort === "descending" ? "▼" : "");
      const s = summaries[col.name];
      cell.title = summaryTooltip(s, col);
      setText(sum, summaryLine(s, col));
      sum.title = cell.title;
    }
  }

  // The inputs show the filters trait, except the one being typed in.
  syncInputs(): void {
    const filters = this.host.view().filters;
    for (const [name, entry] of this.inputs) {
      const spec = filters[name] ?? {};
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

  clearInputs(): void {
    for (const entry of this.inputs.values()) for (const input of [entry.min, entry.max, entry.contains]) if (input) input.value = "";
  }

  private applyFilters(): void {
    clearTimeout(this.filterTimer);
    const entries: FilterEntry[] = [];
    const problems: string[] = [];
    for (const [name, entry] of this.inputs) {
      const e: FilterEntry = { name };
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
      this.host.showStatus(problems.join("; "), true);
      return;
    }
    const next = buildFilters(entries);
    if (JSON.stringify(next) !== JSON.stringify(this.host.view().filters)) {
      this.host.model.set("filters", next);
      this.host.model.save_changes();
    }
  }

  dispose(): void {
    clearTimeout(this.filterTimer);
  }
}
