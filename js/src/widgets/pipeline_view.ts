// PipelineView: each action with its state badge, status and progress, a timeline of events,
// and Stop / Resume. Everything shown comes from synced traits, so the view renders its last
// state with no kernel (saved notebook, exported page); only the two buttons talk to it.

import { h, injectStyle, setText } from "../shared/dom";
import type { AnyWidget, RenderProps } from "@anywidget/types";
import { REQUEST } from "../shared/kinds";
import type { BaseTraits } from "../shared/request";
import { RequestButtons } from "../shared/request_buttons";
import { BADGE, BASE_CSS, ROOT_ATTRS, keepKeys } from "../shared/theme";
import { watch } from "../shared/watch";
import { buttons, clockTime, eventText, progressOf, relative, stateLabel, summary, type ActionRow, type EventRow } from "../pipeline_view/logic";

// The traits of qwidgets/widgets/pipeline_view.py this view reads.
type Traits = BaseTraits & {
  title: string;
  state: string;
  status: string;
  actions: ActionRow[];
  events: EventRow[];
  event_count: number;
  error: string;
  _t0: number;
  _running: boolean;
};

const CSS = `${BASE_CSS}
.qw-pipeline { display: flex; flex-direction: column; gap: 6px; max-width: 960px; }
.qw-pipeline .qw-steps { list-style: none; margin: 0; padding: 0; display: grid;
  grid-template-columns: max-content max-content max-content minmax(80px, 160px) 1fr; gap: 4px 10px; align-items: center; }
.qw-pipeline .qw-step { display: contents; }
.qw-pipeline .qw-step-name { font-weight: 600; }
.qw-pipeline .qw-step-status { font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px); }
.qw-pipeline .qw-bar { height: 8px; border-radius: 4px; background: var(--jp-layout-color3, #e0e0e0); overflow: hidden; }
.qw-pipeline .qw-bar > div { height: 100%; width: 0; background: var(--jp-brand-color1, #1976d2); transition: width .2s; }
.qw-pipeline .qw-step[data-state="Done"] .qw-bar > div { background: var(--jp-success-color1, #388e3c); }
.qw-pipeline .qw-step[data-state="Error"] .qw-bar > div { background: var(--jp-error-color1, #d32f2f); }
.qw-pipeline .qw-step[data-state="Stopped"] .qw-bar > div { background: var(--jp-warn-color1, #f57c00); }
.qw-pipeline .qw-detail { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.qw-pipeline .qw-timeline { margin: 2px 0 0 0; padding-left: 0; list-style: none; max-height: 160px; overflow-y: auto;
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px); }
.qw-pipeline .qw-timeline li { padding: 1px 0; white-space: pre-wrap; }
.qw-pipeline .qw-timeline li[data-state="Error"] { color: var(--jp-error-color1, #d32f2f); }
.qw-pipeline details summary { cursor: pointer; }
.qw-badge[data-state="Preceding"] { background: ${BADGE.other}; color: #fff; }
`;

function render({ model, el }: RenderProps<Traits>): () => void {
  injectStyle(el, "pipeline_view", CSS);
  const title = h("strong", { class: "qw-title" });
  const badge = h("span", { class: "qw-badge qw-pipeline-state", role: "status", "aria-label": "pipeline state" });
  const status = h("span", { class: "qw-muted qw-pipeline-status" });
  const count = h("span", { class: "qw-muted qw-summary" });
  const stop = h("button", { class: "qw-stop", type: "button", "aria-label": "Stop the pipeline now (cancels the running action)" }, "Stop");
  const resume = h("button", { class: "qw-resume qw-primary", type: "button", "aria-label": "Resume the pipeline from the last completed action" }, "Resume");
  const error = h("div", { class: "qw-error qw-message", role: "alert" });
  const steps = h("ol", { class: "qw-steps", "aria-label": "pipeline actions" });
  const timeline = h("ol", { class: "qw-timeline", "aria-live": "polite", "aria-label": "pipeline events" });
  const timelineCount = h("span");
  const root = h("div", { class: "qw-root qw-pipeline", ...ROOT_ATTRS },
    h("div", { class: "qw-head" }, title, badge, status, count, h("span", { class: "qw-grow" }), stop, resume),
    error,
    steps,
    h("details", { open: true }, h("summary", {}, "Timeline ", timelineCount), timeline));
  keepKeys(root);
  el.replaceChildren(root);

  const requests = new RequestButtons(model, 60_000, () => showHead());
  const rows = new Map<string, { li: HTMLElement; badge: HTMLElement; status: HTMLElement; fill: HTMLElement; bar: HTMLElement; detail: HTMLElement }>();

  const row = (name: string) => {
    let r = rows.get(name);
    if (r) return r;
    const fill = h("div");
    const bar = h("div", { class: "qw-bar", role: "progressbar", "aria-label": `${name} progress`, "aria-valuemin": 0, "aria-valuemax": 100 }, fill);
    r = {
      li: h("li", { class: "qw-step" }),
      badge: h("span", { class: "qw-badge qw-step-state" }),
      status: h("span", { class: "qw-step-status" }),
      fill, bar,
      detail: h("span", { class: "qw-muted qw-detail" }),
    };
    r.li.dataset.action = name;
    r.li.append(h("span", { class: "qw-step-name", text: name }), r.badge, r.status, r.bar, r.detail);
    rows.set(name, r);
    return r;
  };

  const showHead = () => {
    const state = String(model.get("state") || "");
    root.dataset.state = state || "Waiting";
    setText(title, model.get("title") || "Pipeline");
    badge.dataset.state = state || "Waiting";
    setText(badge, stateLabel(state));
    setText(status, model.get("status") || "");
    const b = buttons(state, !!model.get("_running"), !!model.get("_offline"), requests.pending);
    stop.hidden = resume.hidden = b.hidden;
    stop.disabled = b.stop.disabled;
    setText(stop, b.stop.label);
    resume.disabled = b.resume.disabled;
    setText(resume, b.resume.label);
    const messages = [model.get("error"), requests.error].filter(Boolean);
    setText(error, messages.join("\n"));
    error.hidden = !messages.length;
  };

  const showActions = () => {
    const list: ActionRow[] = model.get("actions") || [];
    setText(count, summary(list));
    const order: HTMLElement[] = [];
    for (const a of list) {
      const r = row(a.name);
      const label = stateLabel(a.state);
      r.li.dataset.state = label;
      r.badge.dataset.state = label;
      setText(r.badge, label);
      setText(r.status, a.status);
      const p = progressOf(a);
      r.fill.style.width = `${p ?? 0}%`;
      if (p === null) r.bar.removeAttribute("aria-valuenow");
      else r.bar.setAttribute("aria-valuenow", String(Math.round(p)));
      setText(r.detail, a.detail);
      r.detail.title = a.guid ? `${a.detail}\nguid ${a.guid}` : a.detail;
      order.push(r.li);
    }
    if (order.length !== steps.children.length || order.some((li, i) => steps.children[i] !== li)) steps.replaceChildren(...order);
  };

  // The timeline follows the newest event unless the reader scrolled up to look at older ones.
  let follow = true;
  timeline.addEventListener("scroll", () => {
    follow = timeline.scrollTop + timeline.clientHeight >= timeline.scrollHeight - 4;
  });
  const toBottom = () => { if (follow) timeline.scrollTop = timeline.scrollHeight; };

  const showEvents = () => {
    const events: EventRow[] = model.get("events") || [];
    const t0 = Number(model.get("_t0") || 0);
    const total = Number(model.get("event_count") || events.length);
    setText(timelineCount, total > events.length ? `(last ${events.length} of ${total})` : `(${events.length})`);
    timeline.replaceChildren(...events.map((e) => {
      const li = h("li", { text: `${clockTime(e.t)}  ${relative(e.t, t0).padEnd(10)}  ${eventText(e)}` });
      li.dataset.state = e.state;
      return li;
    }));
    toBottom();
  };

  requests.bind(stop, REQUEST.stop);
  requests.bind(resume, REQUEST.resume);

  const unwatch = [
    watch(model, ["state", "status", "title", "error", "_running", "_offline"], showHead),
    watch(model, ["actions"], showActions),
    watch(model, ["events", "event_count", "_t0"], showEvents),
  ];
  showHead();
  showActions();
  showEvents();
  // The first render happens before the view is in the page (no layout yet to scroll).
  const frame = requestAnimationFrame(toBottom);

  return () => {
    cancelAnimationFrame(frame);
    for (const off of unwatch) off();
    requests.dispose();
  };
}

export default { render } satisfies AnyWidget<Traits>;
