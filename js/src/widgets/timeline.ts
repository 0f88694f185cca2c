// JobTimeline: a hybrid job's events on a horizontal bar and in a list with times and durations,
// its state badge, queue position and a Cancel button. Everything shown comes from synced
// traits, so it renders its last state with no kernel; only Cancel talks to the kernel.

import { h, injectStyle, setText } from "../shared/dom";
import type { AnyWidget, RenderProps } from "@anywidget/types";
import { REQUEST } from "../shared/kinds";
import type { BaseTraits } from "../shared/request";
import { RequestButtons } from "../shared/request_buttons";
import { BADGE, BASE_CSS, ROOT_ATTRS, keepKeys } from "../shared/theme";
import { watch } from "../shared/watch";
import {
  canCancel, clockTime, durationText, elapsed, isTerminal, phases, queueText, shares, summary,
  type JobEvent, type Phase,
} from "../timeline/model";

const CSS = `${BASE_CSS}
.qw-timeline { display: flex; flex-direction: column; gap: 6px; max-width: 960px; }
.qw-timeline .qw-tl-bar { display: flex; height: 18px; border-radius: 4px; overflow: hidden; background: var(--jp-layout-color3, #e0e0e0); }
.qw-timeline .qw-tl-seg { height: 100%; min-width: 3px; border-right: 1px solid var(--jp-layout-color1, #fff); }
.qw-timeline .qw-tl-seg:last-child { border-right: none; }
.qw-timeline [data-kind="wait"] { background: var(--jp-layout-color4, #9e9e9e); }
.qw-timeline [data-kind="setup"] { background: var(--jp-brand-color2, #64b5f6); }
.qw-timeline [data-kind="run"] { background: var(--jp-brand-color1, #1976d2); }
.qw-timeline [data-kind="done"] { background: var(--jp-success-color1, #388e3c); }
.qw-timeline [data-kind="fail"] { background: var(--jp-error-color1, #d32f2f); }
.qw-timeline [data-kind="cancel"] { background: var(--jp-warn-color1, #f57c00); }
.qw-timeline [data-kind="other"] { background: var(--jp-layout-color4, #757575); }
.qw-timeline .qw-tl-seg[data-open] { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.25) 0 6px, transparent 6px 12px); }
.qw-timeline .qw-tl-dot { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: middle; }
.qw-timeline table { border-collapse: collapse; width: 100%; font-size: var(--jp-ui-font-size1, 13px); }
.qw-timeline th, .qw-timeline td { text-align: left; padding: 2px 8px 2px 0; vertical-align: top; border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.qw-timeline th { font-weight: 600; color: var(--jp-ui-font-color2, #616161); }
.qw-timeline td.qw-num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.qw-badge[data-state="queued"] { background: ${BADGE.off}; color: #fff; }
`;

// The traits of qwidgets/widgets/timeline.py this view reads.
type Traits = BaseTraits & {
  job_arn: string;
  job_name: string;
  status: string;
  device: string;
  events: JobEvent[];
  queue_position: string;
  queue_message: string;
  failure_reason: string;
  created_at: number | null;
  started_at: number | null;
  ended_at: number | null;
  updated_at: number | null;
  polling: boolean;
  error: string;
};

const EVENT_NAMES: Record<string, string> = {
  WAITING_FOR_PRIORITY: "Waiting for priority", QUEUED_FOR_EXECUTION: "Queued", STARTING_INSTANCE: "Starting instance",
  DOWNLOADING_DATA: "Downloading data", RUNNING: "Running", DEPRIORITIZED_DUE_TO_INACTIVITY: "Deprioritized (inactive)",
  UPLOADING_RESULTS: "Uploading results", COMPLETED: "Completed", FAILED: "Failed",
  MAX_RUNTIME_EXCEEDED: "Max runtime exceeded", CANCELLED: "Cancelled",
};

const eventName = (type: string) => EVENT_NAMES[type] ?? type;

function render({ model, el }: RenderProps<Traits>): () => void {
  injectStyle(el, "timeline", CSS);
  const title = h("strong", { class: "qw-title" });
  const badge = h("span", { class: "qw-badge qw-tl-state", role: "status", "aria-label": "job state" });
  const device = h("span", { class: "qw-muted qw-tl-device" });
  const total = h("span", { class: "qw-muted qw-tl-elapsed" });
  const cancel = h("button", { class: "qw-cancel", type: "button", "aria-label": "Cancel the hybrid job on the server" }, "Cancel");
  const queue = h("div", { class: "qw-tl-queue", "aria-live": "polite" });
  const bar = h("div", { class: "qw-tl-bar", role: "img", "aria-label": "job timeline" });
  const failure = h("div", { class: "qw-error qw-tl-failure", role: "alert" });
  const error = h("div", { class: "qw-error qw-message", role: "alert" });
  const rows = h("tbody");
  const table = h("table", { class: "qw-tl-list", "aria-label": "job events" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Event"),
      h("th", { scope: "col" }, "Duration"), h("th", { scope: "col" }, "Message"))),
    rows);
  const foot = h("div", { class: "qw-muted qw-tl-foot" });
  const root = h("div", { class: "qw-root qw-timeline", ...ROOT_ATTRS },
    h("div", { class: "qw-head" }, title, badge, device, h("span", { class: "qw-grow" }), total, cancel),
    queue, bar, failure, error, table, foot);
  keepKeys(root);
  el.replaceChildren(root);

  const buttons = new RequestButtons(model, 30_000, () => showHead());
  let ticker: ReturnType<typeof setInterval> | null = null;

  const status = () => String(model.get("status") || "");
  const offline = () => !!model.get("_offline");

  const current = (): Phase[] => {
    const events: JobEvent[] = model.get("events") ?? [];
    return phases(events, status(), model.get("ended_at"), Date.now() / 1000);
  };

  const showHead = () => {
    const s = status();
    root.dataset.state = s.toLowerCase();
    badge.dataset.state = s.toLowerCase();
    setText(badge, s || "unknown");
    setText(title, model.get("job_name") || model.get("job_arn") || "Hybrid job");
    const dev = String(model.get("device") || "");
    setText(device, dev ? `on ${dev.split("/").pop()}` : "");
    device.title = dev;
    const position = String(model.get("queue_position") || "");
    setText(queue, queueText(position, model.get("queue_message"), s));
    queue.hidden = !queue.textContent;
    // a position is news; the service's "no position in this status" is not
    queue.classList.toggle("qw-muted", !position || position === "None");
    const reason = model.get("failure_reason");
    setText(failure, reason ? `Failure reason: ${reason}` : "");
    failure.hidden = !reason;
    const messages = [model.get("error"), buttons.error].filter(Boolean);
    setText(error, messages.join("\n"));
    error.hidden = !messages.length;
    cancel.hidden = offline();
    cancel.disabled = !canCancel(s, offline(), buttons.busy);
    setText(cancel, buttons.busy || s === "CANCELLING" ? "Cancelling…" : "Cancel");
    const updated = model.get("updated_at");
    setText(foot, offline() ? "Last saved state (no kernel is running)."
      : model.get("polling") ? "Updating live." : typeof updated === "number" ? `Last update ${clockTime(updated)}.` : "");
  };

  const showTimes = () => {
    const list = current();
    const now = Date.now() / 1000;
    const t = elapsed(model.get("created_at"), model.get("ended_at"), status(), now);
    setText(total, t === null ? "" : `total ${durationText(t)}`);
    const share = shares(list);
    if (bar.children.length !== list.length) {
      bar.replaceChildren(...list.map(() => h("div", { class: "qw-tl-seg" })));
      rows.replaceChildren(...list.map(() => h("tr", {},
        h("td", { class: "qw-num" }), h("td"), h("td", { class: "qw-num" }), h("td"))));
    }
    list.forEach((p, i) => {
      const seg = bar.children[i] as HTMLElement;
      seg.dataset.kind = p.kind;
      if (p.open) seg.dataset.open = ""; else delete seg.dataset.open;
      seg.style.flex = `${share[i]} 0 0`;
      seg.title = `${eventName(p.type)}: ${durationText(p.duration)}${p.open ? " so far" : ""}${p.message ? `\n${p.message}` : ""}`;
      const cells = (rows.children[i] as HTMLElement).children;
      setText(cells[0], clockTime(p.start));
      (cells[0] as HTMLElement).title = clockTime(p.start, true);
      const name = cells[1] as HTMLElement;
      if (name.dataset.type !== p.type) {
        name.dataset.type = p.type;
        name.replaceChildren(h("span", { class: "qw-tl-dot", "data-kind": p.kind, "aria-hidden": "true" }), eventName(p.type));
      }
      setText(cells[2], p.start === p.end && !p.open ? "" : `${durationText(p.duration)}${p.open ? " so far" : ""}`);
      setText(cells[3], p.message);
    });
    bar.setAttribute("aria-label", `job timeline: ${summary(list)}`);
  };

  const tick = () => {
    const live = !offline() && !isTerminal(status()) && (model.get("events") ?? []).length > 0;
    if (live && ticker === null) ticker = setInterval(showTimes, 1000);
    if (!live && ticker !== null) {
      clearInterval(ticker);
      ticker = null;
    }
  };

  const showAll = () => {
    showHead();
    showTimes();
    tick();
  };

  buttons.bind(cancel, REQUEST.cancel_job, { label: "cancel" });
  const unwatch = watch(model, ["status", "job_name", "job_arn", "device", "events", "queue_position", "queue_message",
    "failure_reason", "created_at", "started_at", "ended_at", "updated_at", "error", "polling", "_offline"], showAll);
  showAll();

  return () => {
    unwatch();
    if (ticker !== null) clearInterval(ticker);
    buttons.dispose();
  };
}

export default { render } satisfies AnyWidget<Traits>;
