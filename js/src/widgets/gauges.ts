// DeviceQueueGauges: a card per device with its type and status, a gauge per queue (tasks,
// priority tasks, hybrid jobs) and your own tasks and jobs marked on them. Everything shown comes
// from synced traits, so the last state renders with no kernel; Pause and Refresh talk to it.

import { h, injectStyle, setText } from "../shared/dom";
import type { AnyWidget, RenderProps } from "@anywidget/types";
import { REQUEST } from "../shared/kinds";
import type { BaseTraits } from "../shared/request";
import { RequestButtons } from "../shared/request_buttons";
import { BADGE, BASE_CSS, ROOT_ATTRS, keepKeys } from "../shared/theme";
import { watch } from "../shared/watch";
import {
  agoText, countDescription, fillFraction, markerFraction, moreText, sortMine, statusTone, whereText,
  type DeviceState, type Queue,
} from "../gauges/model";

const CSS = `${BASE_CSS}
.qw-gauges { display: flex; flex-direction: column; gap: 8px; max-width: 1100px; }
.qw-gauges .qw-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 8px; }
.qw-gauges .qw-card { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 6px; padding: 8px; display: flex; flex-direction: column; gap: 6px; background: var(--jp-layout-color1, #fff); }
.qw-gauges .qw-card:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.qw-gauges .qw-card[data-mine] { border-color: var(--jp-brand-color1, #1976d2); box-shadow: 0 0 0 1px var(--jp-brand-color1, #1976d2); }
.qw-gauges .qw-card[data-stale] { opacity: .7; }
.qw-gauges .qw-card-head { display: flex; align-items: baseline; gap: 6px; flex-wrap: wrap; }
.qw-gauges .qw-name { font-weight: 600; }
.qw-gauges .qw-provider { font-size: var(--jp-ui-font-size0, 11px); }
.qw-gauges .qw-type { font-size: var(--jp-ui-font-size0, 11px); border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 3px; padding: 0 4px; }
.qw-gauges .qw-badge[data-tone="ok"] { background: ${BADGE.ok}; color: #fff; }
.qw-gauges .qw-badge[data-tone="warn"] { background: ${BADGE.warn}; color: #fff; }
.qw-gauges .qw-badge[data-tone="off"] { background: ${BADGE.off}; color: #fff; }
.qw-gauges .qw-gauge { display: grid; grid-template-columns: 7.5em 1fr auto; align-items: center; gap: 6px; font-size: var(--jp-ui-font-size1, 13px); }
.qw-gauges .qw-track { position: relative; height: 10px; border-radius: 5px; background: var(--jp-layout-color3, #e0e0e0); }
.qw-gauges .qw-fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 5px; background: var(--jp-brand-color1, #1976d2); }
.qw-gauges .qw-fill[data-key="priority"] { background: var(--jp-brand-color2, #64b5f6); }
.qw-gauges .qw-fill[data-key="jobs"] { background: var(--jp-accent-color1, #7b1fa2); }
.qw-gauges .qw-fill[data-lower] { background-image: repeating-linear-gradient(45deg, rgba(255,255,255,.35) 0 4px, transparent 4px 8px); }
.qw-gauges .qw-marker { position: absolute; top: -4px; width: 4px; height: 18px; margin-left: -2px; border-radius: 2px; background: var(--jp-warn-color1, #f57c00); border: 1px solid var(--jp-layout-color1, #fff); }
.qw-gauges .qw-value { font-variant-numeric: tabular-nums; white-space: nowrap; min-width: 4.5em; text-align: right; }
.qw-gauges .qw-value[data-approx]::after { content: " ≈"; color: var(--jp-ui-font-color2, #616161); }
.qw-gauges .qw-note { font-size: var(--jp-ui-font-size0, 11px); grid-column: 2 / 4; margin-top: -4px; }
.qw-gauges .qw-mine { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 2px; }
.qw-gauges .qw-mine li { background: color-mix(in srgb, var(--jp-warn-color1, #f57c00) 14%, transparent); border-left: 3px solid var(--jp-warn-color1, #f57c00); padding: 1px 6px; border-radius: 2px; }
.qw-gauges .qw-foot { display: flex; gap: 12px; flex-wrap: wrap; }
`;

// The traits of qwidgets/widgets/gauges.py this view reads.
type Traits = BaseTraits & {
  devices: DeviceState[];
  more: number;
  poll_interval: number;
  paused: boolean;
  polling: boolean;
  updated_at: number | null;
  error: string;
};

interface Card {
  root: HTMLElement;
  name: HTMLElement;
  provider: HTMLElement;
  type: HTMLElement;
  status: HTMLElement;
  gauges: HTMLElement;
  mine: HTMLElement;
}

function newCard(): Card {
  const name = h("span", { class: "qw-name" });
  const provider = h("span", { class: "qw-provider qw-muted" });
  const type = h("span", { class: "qw-type" });
  const status = h("span", { class: "qw-badge qw-status", role: "status" });
  const gauges = h("div", { class: "qw-gauge-list" });
  const mine = h("ul", { class: "qw-mine", "aria-label": "your tasks and jobs on this device" });
  const root = h("section", { class: "qw-card", tabindex: 0 },
    h("div", { class: "qw-card-head" }, name, type, status), provider, gauges, mine);
  return { root, name, provider, type, status, gauges, mine };
}

function drawGauge(device: DeviceState, q: Queue): HTMLElement {
  const fill = h("div", { class: "qw-fill", "data-key": q.key, "data-lower": q.lower_bound });
  fill.style.width = `${(fillFraction(q.value, q.cap, q.lower_bound) * 100).toFixed(1)}%`;
  const track = h("div", {
    class: "qw-track", role: "meter", "aria-valuemin": 0, "aria-valuemax": q.cap,
    "aria-valuenow": q.value ?? 0, "aria-valuetext": countDescription(q.label, q),
    "aria-label": `${device.name} ${q.label.toLowerCase()} queue`,
  }, fill);
  track.title = `${countDescription(q.label, q)}${q.raw !== null ? ` (reported as '${q.raw}')` : ""}`;
  for (const item of device.mine) {
    if (item.queue !== q.key) continue;
    const at = markerFraction(item.position.value, q.cap);
    if (at === null) continue;
    const marker = h("div", { class: "qw-marker", "aria-hidden": "true" });
    marker.style.left = `${(at * 100).toFixed(1)}%`;
    marker.title = `your ${item.kind} ${item.id}: ${whereText(item)}`;
    track.append(marker);
  }
  const value = h("span", { class: "qw-value", "data-approx": q.approximate && !q.lower_bound }, q.display || "–");
  const row = h("div", { class: "qw-gauge", "data-key": q.key }, h("span", { class: "qw-label" }, q.label), track, value);
  if (q.note) row.append(h("span", { class: "qw-note qw-muted" }, q.note));
  return row;
}

function fillCard(card: Card, d: DeviceState): void {
  setText(card.name, d.name);
  card.name.title = d.arn;
  setText(card.provider, d.provider);
  setText(card.type, d.type);
  setText(card.status, d.status || "unknown");
  card.status.dataset.tone = statusTone(d.status);
  card.root.setAttribute("aria-label", `${d.name}, ${d.type}, ${d.status}: ${d.queues.map((q) => countDescription(q.label, q)).join("; ")}`);
  if (d.mine.length) card.root.dataset.mine = ""; else delete card.root.dataset.mine;
  if (d.stale) card.root.dataset.stale = ""; else delete card.root.dataset.stale;
  card.gauges.replaceChildren(...d.queues.map((q) => drawGauge(d, q)));
  card.mine.replaceChildren(...sortMine(d.mine).map((item) =>
    h("li", { "data-kind": item.kind, title: item.arn },
      h("strong", {}, `Your ${item.kind} ${item.id}`), `: ${whereText(item)}`)));
  card.mine.hidden = !d.mine.length;
}

function render({ model, el }: RenderProps<Traits>): () => void {
  injectStyle(el, "gauges", CSS);
  const pause = h("button", { type: "button", class: "qw-pause", "aria-label": "Pause or resume live polling" }, "Pause");
  const refresh = h("button", { type: "button", class: "qw-refresh", "aria-label": "Read the queues now" }, "Refresh");
  const when = h("span", { class: "qw-muted qw-updated", "aria-live": "off" });
  const cards = h("div", { class: "qw-cards" });
  const more = h("div", { class: "qw-muted qw-more" });
  const error = h("div", { class: "qw-error qw-message", role: "alert" });
  const legend = h("div", { class: "qw-muted qw-foot" },
    h("span", {}, "N+ : at least N (Braket's display cap)"), h("span", {}, "≈ : approximate"),
    h("span", {}, "orange mark: your task or job"));
  const root = h("div", { class: "qw-root qw-gauges", ...ROOT_ATTRS },
    h("div", { class: "qw-head" }, h("strong", {}, "Device queues"), when, h("span", { class: "qw-grow" }), pause, refresh),
    error, cards, more, legend);
  keepKeys(root);
  el.replaceChildren(root);

  const byArn = new Map<string, Card>();
  const buttons = new RequestButtons(model, 30_000, () => showHead());
  const offline = () => !!model.get("_offline");

  const showHead = () => {
    const paused = !!model.get("paused");
    setText(pause, paused ? "Resume" : "Pause");
    pause.setAttribute("aria-pressed", String(paused));
    pause.hidden = offline();
    refresh.hidden = offline();
    refresh.disabled = buttons.busy;
    const ago = agoText(model.get("updated_at"), Date.now() / 1000);
    setText(when, offline() ? `saved state (no kernel) · ${ago}`
      : paused ? `paused · ${ago}` : `${ago} · every ${model.get("poll_interval")} s`);
    const messages = [model.get("error"), buttons.error].filter(Boolean);
    setText(error, messages.join("\n"));
    error.hidden = !messages.length;
  };

  const showCards = () => {
    const devices: DeviceState[] = model.get("devices") ?? [];
    const seen = new Set<string>();
    const ordered: HTMLElement[] = [];
    for (const d of devices) {
      let card = byArn.get(d.arn);
      if (!card) {
        card = newCard();
        byArn.set(d.arn, card);
      }
      fillCard(card, d);
      seen.add(d.arn);
      ordered.push(card.root);
    }
    for (const arn of [...byArn.keys()]) if (!seen.has(arn)) byArn.delete(arn);
    // keep existing nodes in place (and focus on them) when the order did not change
    const current = [...cards.children];
    if (current.length !== ordered.length || current.some((n, i) => n !== ordered[i])) cards.replaceChildren(...ordered);
    setText(more, moreText(model.get("more")));
    more.hidden = !model.get("more");
    root.dataset.count = String(devices.length);
  };

  pause.addEventListener("click", () => {
    model.set("paused", !model.get("paused"));
    model.save_changes();
    showHead();
  });
  buttons.bind(refresh, REQUEST.refresh, { supersede: true });

  const unwatch = watch(model, ["devices", "more", "paused", "polling", "updated_at", "error", "poll_interval", "_offline"], () => {
    showHead();
    showCards();
  });
  const ticker = setInterval(showHead, 1000);
  showHead();
  showCards();

  return () => {
    unwatch();
    clearInterval(ticker);
    buttons.dispose();
  };
}

export default { render } satisfies AnyWidget<Traits>;
