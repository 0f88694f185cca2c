// TrainingMonitor: status badge, progress bars, ETA, live loss chart, event log and Cancel.
// Everything shown comes from synced traits, so the view renders from its last state with no
// kernel (saved notebook, exported page); only Cancel talks to the kernel.

import { h, injectStyle, setText } from "../shared/dom";
import { formatNumber } from "../shared/format";
import type { AnyWidget, RenderProps } from "@anywidget/types";
import { REQUEST } from "../shared/kinds";
import type { BaseTraits } from "../shared/request";
import { RequestButtons } from "../shared/request_buttons";
import { BADGE, BASE_CSS, ROOT_ATTRS, keepKeys } from "../shared/theme";
import { watch } from "../shared/watch";
import { LossChart } from "../monitor/chart";
import { float32s } from "../monitor/series";
import { etaText, FINAL, percent, pointsText, positionText, warningText } from "../monitor/view";

const CSS = `${BASE_CSS}
.qw-monitor { display: flex; flex-direction: column; gap: 6px; max-width: 960px; }
.qw-monitor .qw-bars { display: grid; grid-template-columns: max-content 1fr max-content; gap: 4px 8px; align-items: center; }
.qw-monitor .qw-bar { height: 10px; border-radius: 5px; background: var(--jp-layout-color3, #e0e0e0); overflow: hidden; }
.qw-monitor .qw-bar > div { height: 100%; width: 0; background: var(--jp-brand-color1, #1976d2); transition: width .2s; }
.qw-monitor[data-state="completed"] .qw-bar > div { background: var(--jp-success-color1, #388e3c); }
.qw-monitor[data-state="failed"] .qw-bar > div, .qw-monitor[data-state="disconnected"] .qw-bar > div { background: var(--jp-error-color1, #d32f2f); }
.qw-monitor[data-state^="cancel"] .qw-bar > div { background: var(--jp-warn-color1, #f57c00); }
.qw-monitor .qw-chart { position: relative; }
.qw-monitor .qw-chart-canvas { display: block; width: 100%; }
.qw-monitor .qw-chart-canvas:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.qw-monitor .qw-tooltip { position: absolute; pointer-events: none; white-space: pre; padding: 3px 6px; border-radius: 3px;
  font-size: var(--jp-ui-font-size0, 11px); background: var(--jp-layout-color0, #fff); color: var(--jp-ui-font-color1, #212121);
  border: 1px solid var(--jp-border-color1, #bdbdbd); box-shadow: 0 1px 3px rgba(0,0,0,.2); z-index: 2; }
.qw-monitor .qw-tools { display: flex; gap: 12px; align-items: center; font-size: var(--jp-ui-font-size0, 11px); }
.qw-monitor .qw-log { margin: 2px 0 0 0; padding-left: 0; list-style: none; max-height: 120px; overflow-y: auto;
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px); }
.qw-monitor .qw-log li { padding: 1px 0; }
.qw-monitor details summary { cursor: pointer; }
/* The theme's own text colour keeps it readable on light and dark; the border marks it a warning. */
.qw-monitor .qw-warning { border-left: 3px solid ${BADGE.warn}; padding: 2px 6px; color: var(--jp-ui-font-color1, #212121);
  background: var(--jp-layout-color2, #eee); white-space: pre-wrap; }
.qw-monitor .qw-log li.qw-warn { border-left: 3px solid ${BADGE.warn}; padding-left: 4px; }
`;

interface LogEvent {
  time?: string;
  level?: string;
  text?: string;
}

// The traits of qwidgets/widgets/monitor.py this view reads; the series are float32 bytes.
type Traits = BaseTraits & {
  title: string;
  model_guid: string;
  status: string;
  training_completion: number;
  current_batch_completion: number;
  pass_index: number;
  batch_index: number;
  num_passes: number;
  num_batches: number;
  loss: number | null;
  eta_seconds: number | null;
  failure_reason: string;
  state_warning: string;
  error: string;
  events: LogEvent[];
  _batch_x: DataView;
  _batch_y: DataView;
  _pass_x: DataView;
  _pass_y: DataView;
  _points: number;
  _can_cancel: boolean;
};

function render({ model, el }: RenderProps<Traits>): () => void {
  injectStyle(el, "monitor", CSS);
  const title = h("strong", { class: "qw-title" });
  const badge = h("span", { class: "qw-badge", role: "status", "aria-label": "training status" });
  const guid = h("span", { class: "qw-muted qw-guid" });
  const eta = h("span", { class: "qw-muted qw-eta" });
  const cancel = h("button", { class: "qw-cancel", type: "button", "aria-label": "Cancel the training on the server" }, "Cancel");
  const error = h("div", { class: "qw-error qw-message", role: "alert" });
  const warning = h("div", { class: "qw-warning", role: "status", "aria-label": "solver warning" });
  const bar = (label: string) => {
    const fill = h("div");
    const track = h("div", { class: "qw-bar", role: "progressbar", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, fill);
    const value = h("span", { class: "qw-muted" });
    return { fill, track, value, label: h("span", {}, label) };
  };
  const total = bar("Training");
  const current = bar("Current batch");
  const chart = new LossChart();
  const logToggle = h("input", { type: "checkbox", id: `qw-log-${Math.random().toString(36).slice(2)}` });
  const points = h("span", { class: "qw-muted qw-points" });
  const log = h("ol", { class: "qw-log", "aria-live": "polite", "aria-label": "training events" });
  const logCount = h("span");
  const root = h("div", { class: "qw-root qw-monitor", ...ROOT_ATTRS },
    h("div", { class: "qw-head" }, title, badge, guid, h("span", { class: "qw-grow" }), eta, cancel),
    error,
    warning,
    h("div", { class: "qw-bars" }, total.label, total.track, total.value, current.label, current.track, current.value),
    chart.el,
    h("div", { class: "qw-tools" },
      h("label", {}, logToggle, " log scale"), points),
    h("details", { open: true }, h("summary", {}, "Events ", logCount), log));
  keepKeys(root);
  el.replaceChildren(root);

  const requests = new RequestButtons(model, 30_000, () => showStatus());

  const setBar = (b: ReturnType<typeof bar>, v: number, text: string) => {
    b.fill.style.width = `${v}%`;
    b.track.setAttribute("aria-valuenow", String(Math.round(v)));
    b.track.setAttribute("aria-valuetext", text);
    setText(b.value, text);
  };

  const status = () => String(model.get("status") || "idle");

  const showStatus = () => {
    const s = status();
    root.dataset.state = s;
    badge.dataset.state = s;
    setText(title, model.get("title") || "Training");
    setText(badge, s);
    const g = model.get("model_guid");
    setText(guid, g ? `model ${g}` : "");
    const done = percent(model.get("training_completion"));
    setBar(total, done, `${Math.round(done)}%`);
    const batch = percent(model.get("current_batch_completion"));
    const where = positionText(model.get("pass_index") ?? 0, model.get("num_passes") ?? 0, model.get("batch_index") ?? 0, model.get("num_batches") ?? 0);
    setBar(current, batch, where ? `${Math.round(batch)}% · ${where}` : `${Math.round(batch)}%`);
    const loss = model.get("loss");
    const etaLine = etaText(s, model.get("eta_seconds"));
    setText(eta, [typeof loss === "number" ? `loss ${formatNumber(loss)}` : "", etaLine].filter(Boolean).join(" · "));
    const offline = !!model.get("_offline");
    cancel.hidden = offline;
    cancel.disabled = offline || requests.busy || !model.get("_can_cancel") || FINAL.has(s);
    setText(cancel, requests.busy ? "Cancelling…" : "Cancel");
    const messages = [model.get("failure_reason") ? `failed: ${model.get("failure_reason")}` : "", model.get("error"), requests.error].filter(Boolean);
    setText(error, messages.join("\n"));
    error.hidden = !messages.length;
    const warned = warningText(model.get("state_warning"));
    setText(warning, warned);
    warning.hidden = !warned;
  };

  const showChart = () => {
    const bx = float32s(model.get("_batch_x"));
    const total = Number(model.get("_points") ?? 0);
    chart.setData({
      batch: { x: bx, y: float32s(model.get("_batch_y")) },
      passes: { x: float32s(model.get("_pass_x")), y: float32s(model.get("_pass_y")) },
      xRange: total > 1 ? [0, total - 1] : undefined,
    });
    setText(points, pointsText(total, bx.length));
  };

  const showEvents = () => {
    const events = model.get("events") ?? [];
    setText(logCount, `(${events.length})`);
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.replaceChildren(...events.map((e) =>
      h("li", { class: e.level === "error" ? "qw-error" : e.level === "warning" ? "qw-warn" : "" }, h("span", { class: "qw-muted" }, `${e.time ?? ""} `), String(e.text ?? ""))));
    if (atBottom) log.scrollTop = log.scrollHeight;
  };

  requests.bind(cancel, REQUEST.stop_training, { label: "cancel" });
  logToggle.addEventListener("change", () => chart.setLog(logToggle.checked));

  const unwatch = [
    watch(model, ["status", "title", "model_guid", "training_completion", "current_batch_completion", "pass_index",
      "batch_index", "num_passes", "num_batches", "loss", "eta_seconds", "failure_reason", "state_warning", "error", "_can_cancel", "_offline"],
    showStatus),
    watch(model, ["_batch_x", "_batch_y", "_pass_x", "_pass_y", "_points"], showChart),
    watch(model, ["events"], showEvents),
  ];
  showStatus();
  showChart();
  showEvents();

  return () => {
    for (const off of unwatch) off();
    chart.dispose();
    requests.dispose();
  };
}

export default { render } satisfies AnyWidget<Traits>;
