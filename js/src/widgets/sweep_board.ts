// SweepBoard: the live leaderboard of a hyperparameter sweep, one row per configuration with
// its status (and the reason of a failure or cancel), progress, loss sparkline, metric and
// train time; sort by any column; Cancel one row or all; "Use this model" on a completed row.
// Everything shown comes from synced traits, so the board renders from its last state with
// no kernel (saved notebook, exported page); only the buttons talk to the kernel.
import type { AnyWidget, RenderProps } from "@anywidget/types";
import { h, injectStyle, setText } from "../shared/dom";
import { carryFocus } from "../shared/focus";
import { REQUEST } from "../shared/kinds";
import { type BaseTraits, Requester, errorText } from "../shared/request";
import { BADGE, BASE_CSS, ROOT_ATTRS, keepKeys } from "../shared/theme";
import { watch } from "../shared/watch";
import { type Row, CANCELLABLE, nextSort, sortRows, summary } from "../sweep_board/logic";
import { type Column, SweepTable, isBusy, setBusy } from "../sweep_board/table";

const CSS = `${BASE_CSS}
.qw-sweep { display: flex; flex-direction: column; gap: 6px; max-width: 1200px; }
.qw-sweep .qw-sweep-scroll { overflow-x: auto; }
.qw-sweep table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
.qw-sweep th, .qw-sweep td { padding: 3px 6px; text-align: left; border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); vertical-align: middle; white-space: nowrap; }
.qw-sweep th.qw-num, .qw-sweep td.qw-num { text-align: right; }
.qw-sweep .qw-sweep-sort { background: none; border: none; padding: 0; font-weight: 600; }
.qw-sweep .qw-sweep-reason { font-size: var(--jp-ui-font-size0, 11px); max-width: 260px; white-space: normal; }
.qw-sweep .qw-bar { display: inline-block; vertical-align: middle; width: 56px; height: 8px; margin-right: 6px; border-radius: 4px; background: var(--jp-layout-color3, #e0e0e0); overflow: hidden; }
.qw-sweep .qw-bar > div { height: 100%; width: 0; background: var(--jp-brand-color1, #1976d2); transition: width .2s; }
.qw-sweep tr[data-status="completed"] .qw-bar > div { background: ${BADGE.ok}; }
.qw-sweep tr[data-status="failed"] .qw-bar > div, .qw-sweep tr[data-status="invalid"] .qw-bar > div { background: ${BADGE.error}; }
.qw-sweep tr[data-status="cancelled"] .qw-bar > div { background: ${BADGE.warn}; }
.qw-sweep .qw-spark { vertical-align: middle; margin-right: 4px; color: var(--jp-brand-color1, #1976d2); }
.qw-sweep .qw-sweep-actions button { margin-right: 4px; white-space: nowrap; }
.qw-sweep button[aria-disabled="true"] { opacity: .5; cursor: progress; }
.qw-sweep tr.qw-chosen td { background: var(--jp-layout-color2, #eeeeee); }
.qw-badge[data-state="queued"], .qw-badge[data-state="pending"] { background: ${BADGE.off}; color: #fff; }
.qw-badge[data-state="invalid"] { background: ${BADGE.error}; color: #fff; }
`;

type Traits = BaseTraits & {
  title: string;
  sweep_id: string;
  columns: string[];
  metric_name: string;
  rows: Row[];
  done: boolean;
  sort_by: string;
  descending: boolean;
  chosen_index: number | null;
  message: string;
  error: string;
  _has_dashboard: boolean;
  _view_key: string;
};

function render({ model, el }: RenderProps<Traits>): () => void {
  injectStyle(el, "sweep_board", CSS);
  const title = h("strong", { class: "qw-title" });
  const badge = h("span", { class: "qw-badge", role: "status", "aria-label": "sweep status" });
  const counts = h("span", { class: "qw-muted qw-sweep-summary", "aria-live": "polite" });
  const cancelAll = h("button", { type: "button", class: "qw-sweep-cancel-all", "aria-label": "Cancel every configuration still running" }, "Cancel all");
  const message = h("div", { class: "qw-muted qw-message" });
  const error = h("div", { class: "qw-error", role: "alert" });
  const requester = new Requester(model, 120_000);
  const busy = new Set<number | "all">();
  let failure = "";

  const ask = async (key: number | "all", kind: typeof REQUEST.cancel_sweep | typeof REQUEST.use_model, label: string) => {
    if (busy.has(key)) return;
    busy.add(key);
    failure = "";
    redraw();
    try {
      await requester.request(kind, { index: key === "all" ? null : key });
    } catch (err) {
      failure = `${label} failed: ${errorText(err)}`;
    } finally {
      busy.delete(key);
      redraw();
    }
  };

  const table = new SweepTable({
    sort: (column) => {
      const next = nextSort({ sortBy: model.get("sort_by") ?? "", descending: !!model.get("descending") }, column);
      model.set("sort_by", next.sortBy);
      model.set("descending", next.descending);
      model.save_changes();
      redraw(); // offline there is no kernel to echo the change
    },
    cancel: (index) => void ask(index, REQUEST.cancel_sweep, `cancel of configuration ${index}`),
    use: (index) => void ask(index, REQUEST.use_model, `use of configuration ${index}`),
    busy: (index) => busy.has(index) || busy.has("all"),
    offline: () => !!model.get("_offline"),
    hasDashboard: () => !!model.get("_has_dashboard"),
    chosen: () => model.get("chosen_index") ?? null,
  });
  cancelAll.addEventListener("click", () => { if (!isBusy(cancelAll)) void ask("all", REQUEST.cancel_sweep, "cancel all"); });

  const root = h("div", { class: "qw-root qw-sweep", ...ROOT_ATTRS },
    h("div", { class: "qw-head" }, title, badge, counts, h("span", { class: "qw-grow" }), cancelAll),
    error, message, h("div", { class: "qw-sweep-scroll" }, table.el));
  keepKeys(root);
  el.replaceChildren(root);

  function redraw(): void {
    const rows = model.get("rows") ?? [];
    const metric = model.get("metric_name") || "metric";
    const columns: Column[] = [
      { key: "index", label: "#", numeric: true },
      ...(model.get("columns") ?? []).map((c) => ({ key: c, label: c, numeric: rows.some((r) => typeof r.config[c] === "number") })),
      { key: "status", label: "status", numeric: false },
      { key: "progress", label: "progress", numeric: false },
      { key: "loss", label: "loss", numeric: false },
      { key: "metric", label: metric, numeric: true },
      { key: "train_time_s", label: "train time", numeric: true },
    ];
    table.setColumns(columns);
    const state = { sortBy: model.get("sort_by") ?? "", descending: !!model.get("descending") };
    table.update(sortRows(rows, state), state);
    const done = !!model.get("done");
    const id = model.get("sweep_id");
    setText(title, `${model.get("title") || "Sweep"}${id ? ` ${id}` : ""}`);
    const status = !id ? "starting" : done ? "completed" : "running";
    badge.dataset.state = status;
    setText(badge, status === "completed" ? "done" : status);
    setText(counts, summary(rows));
    const offline = !!model.get("_offline");
    cancelAll.hidden = offline;
    cancelAll.disabled = !rows.some((r) => CANCELLABLE.has(r.status));
    setBusy(cancelAll, busy.has("all"));
    setText(message, model.get("message"));
    message.hidden = !model.get("message");
    const errors = [model.get("error"), failure].filter(Boolean);
    setText(error, errors.join("\n"));
    error.hidden = !errors.length;
  }

  const unwatch = watch(model, ["title", "sweep_id", "columns", "metric_name", "rows", "done", "sort_by", "descending",
    "chosen_index", "message", "error", "_has_dashboard", "_offline"], redraw);
  redraw();
  const key = model.get("_view_key");
  const dropFocus = key ? carryFocus(key, root) : () => {};
  return () => {
    unwatch();
    dropFocus();
    requester.dispose();
  };
}

export default { render } satisfies AnyWidget<Traits>;
