// The SweepBoard's table: a header of sort buttons and one row element per configuration,
// kept across updates (so focus stays on a row's button while the board refreshes) and only
// moved when the order changes. Every value is set as text.
import { h, setText } from "../shared/dom";
import { keepFocusAcross } from "../shared/focus";
import { type Row, type SortState, CANCELLABLE, ariaSort, cellText, progressText, sparkPoints, timeText } from "./logic";

const SVG = "http://www.w3.org/2000/svg";
const SPARK_W = 80;
const SPARK_H = 22;

export interface Column {
  key: string; // what sort_by names
  label: string;
  numeric: boolean;
}

export interface TableHost {
  sort(column: string): void;
  cancel(index: number): void;
  use(index: number): void;
  busy(index: number): boolean;
  offline(): boolean;
  hasDashboard(): boolean;
  chosen(): number | null;
}

// A button waiting for the kernel's answer: aria-disabled, not disabled, since disabling
// the focused element drops the keyboard's focus to the page (and out of the notebook cell).
export function setBusy(button: HTMLButtonElement, busy: boolean): void {
  if (busy) button.setAttribute("aria-disabled", "true");
  else button.removeAttribute("aria-disabled");
}

export function isBusy(button: HTMLButtonElement): boolean {
  return button.disabled || button.getAttribute("aria-disabled") === "true";
}

class RowView {
  readonly el = h("tr", { class: "qw-sweep-row" });
  private readonly configCells: HTMLTableCellElement[] = [];
  private readonly index = h("td", { class: "qw-num" });
  private readonly badge = h("span", { class: "qw-badge" });
  private readonly reason = h("div", { class: "qw-muted qw-sweep-reason" });
  private readonly fill = h("div");
  private readonly bar = h("div", { class: "qw-bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 }, this.fill);
  private readonly pct = h("span", { class: "qw-muted" });
  private readonly svg = document.createElementNS(SVG, "svg");
  private readonly line = document.createElementNS(SVG, "polyline");
  private readonly loss = h("span", { class: "qw-num" });
  private readonly metric = h("td", { class: "qw-num qw-sweep-metric" });
  private readonly time = h("td", { class: "qw-num" });
  private readonly cancelBtn = h("button", { type: "button", class: "qw-sweep-cancel" }, "Cancel");
  private readonly useBtn = h("button", { type: "button", class: "qw-sweep-use" }, "Use this model");

  constructor(columns: readonly Column[], private readonly host: TableHost, idx: number) {
    this.el.dataset.index = String(idx);
    for (const c of columns) this.configCells.push(h("td", { class: c.numeric ? "qw-num" : "" }));
    this.svg.setAttribute("width", String(SPARK_W));
    this.svg.setAttribute("height", String(SPARK_H));
    this.svg.setAttribute("viewBox", `0 0 ${SPARK_W} ${SPARK_H}`);
    this.svg.setAttribute("role", "img");
    this.svg.setAttribute("class", "qw-spark");
    this.line.setAttribute("fill", "none");
    this.line.setAttribute("stroke", "currentColor");
    this.line.setAttribute("stroke-width", "1.2");
    this.svg.append(this.line);
    this.cancelBtn.setAttribute("aria-label", `Cancel configuration ${idx}`);
    this.useBtn.setAttribute("aria-label", `Use the model of configuration ${idx}`);
    this.cancelBtn.addEventListener("click", () => { if (!isBusy(this.cancelBtn)) host.cancel(idx); });
    this.useBtn.addEventListener("click", () => { if (!isBusy(this.useBtn)) host.use(idx); });
    this.el.append(this.index, ...this.configCells,
      h("td", {}, this.badge, this.reason),
      h("td", { class: "qw-sweep-progress" }, this.bar, this.pct),
      h("td", { class: "qw-sweep-loss" }, this.svg, this.loss),
      this.metric, this.time,
      h("td", { class: "qw-sweep-actions" }, this.cancelBtn, this.useBtn));
  }

  update(row: Row, columns: readonly Column[]): void {
    const chosen = this.host.chosen() === row.index;
    this.el.dataset.status = row.status;
    this.el.classList.toggle("qw-chosen", chosen);
    setText(this.index, chosen ? `${row.index} ✓` : String(row.index));
    columns.forEach((c, i) => setText(this.configCells[i], cellText(row.config[c.key])));
    this.badge.dataset.state = row.status;
    setText(this.badge, row.status);
    setText(this.reason, row.reason);
    this.reason.hidden = !row.reason;
    const pct = progressText(row);
    this.fill.style.width = pct;
    this.bar.setAttribute("aria-valuenow", String(parseInt(pct, 10)));
    this.bar.setAttribute("aria-label", `configuration ${row.index} progress`);
    setText(this.pct, pct);
    const points = sparkPoints(row.loss, SPARK_W, SPARK_H);
    if (this.line.getAttribute("points") !== points) this.line.setAttribute("points", points);
    this.svg.setAttribute("aria-label", row.last_loss === null ? "no loss yet" : `loss over ${row.steps} steps, last ${cellText(row.last_loss)}`);
    setText(this.loss, cellText(row.last_loss));
    setText(this.metric, cellText(row.metric));
    setText(this.time, timeText(row.train_time_s));
    const offline = this.host.offline();
    const busy = this.host.busy(row.index);
    this.cancelBtn.hidden = offline || !CANCELLABLE.has(row.status);
    setBusy(this.cancelBtn, busy);
    this.useBtn.hidden = offline || row.status !== "completed";
    setBusy(this.useBtn, busy);
    setText(this.useBtn, chosen ? "In use" : this.host.hasDashboard() ? "Use in dashboard" : "Use this model");
  }
}

export class SweepTable {
  readonly el = h("table", { class: "qw-sweep-table" });
  private readonly head = h("thead");
  private readonly body = h("tbody");
  private columns: Column[] = [];
  private signature = "";
  private views = new Map<number, RowView>();
  private heads: { col: Column; th: HTMLTableCellElement; arrow: HTMLSpanElement }[] = [];

  constructor(private readonly host: TableHost) {
    this.el.append(this.head, this.body);
  }

  // Rebuilt only when the columns change (a new sweep).
  setColumns(columns: Column[]): void {
    const signature = JSON.stringify(columns);
    if (signature === this.signature) return;
    this.signature = signature;
    keepFocusAcross(this.el, () => this.rebuild(columns));
  }

  private rebuild(columns: Column[]): void {
    this.columns = columns;
    this.views.clear();
    this.body.replaceChildren();
    this.heads = [];
    const tr = h("tr");
    for (const col of columns) {
      const arrow = h("span", { class: "qw-sweep-arrow", "aria-hidden": "true" });
      const btn = h("button", { type: "button", class: "qw-sweep-sort", "aria-label": `Sort by ${col.label}` }, col.label, arrow);
      btn.addEventListener("click", () => this.host.sort(col.key));
      const th = h("th", { scope: "col", "aria-sort": "none", class: col.numeric ? "qw-num" : "" }, btn);
      this.heads.push({ col, th, arrow });
      tr.append(th);
    }
    tr.append(h("th", { scope: "col" }, h("span", { class: "qw-muted" }, "actions")));
    this.head.replaceChildren(tr);
  }

  // The config columns: between "#" and the board's own five.
  private configColumns(): Column[] {
    return this.columns.slice(1, this.columns.length - 5);
  }

  update(rows: readonly Row[], state: SortState): void {
    for (const { col, th, arrow } of this.heads) {
      const s = ariaSort(state, col.key);
      th.setAttribute("aria-sort", s);
      setText(arrow, s === "ascending" ? " ▲" : s === "descending" ? " ▼" : "");
    }
    const config = this.configColumns();
    const seen = new Set<number>();
    const order: HTMLTableRowElement[] = [];
    for (const row of rows) {
      let view = this.views.get(row.index);
      if (!view) {
        view = new RowView(config, this.host, row.index);
        this.views.set(row.index, view);
      }
      view.update(row, config);
      seen.add(row.index);
      order.push(view.el);
    }
    for (const [index, view] of this.views) {
      if (!seen.has(index)) {
        view.el.remove();
        this.views.delete(index);
      }
    }
    const current = Array.from(this.body.children);
    if (current.length !== order.length || current.some((el, i) => el !== order[i])) {
      this.body.replaceChildren(...order);
    }
  }
}
