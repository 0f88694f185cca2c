// FederatedPanel: clients, the round in progress, aggregate versions and the validation-score
// curve of one federated model. Everything shown comes from synced traits, so the view renders
// its last state with no kernel (saved notebook, exported page); the buttons (Live, Refresh,
// Aggregate now) are the only things that talk to the kernel, and are disabled offline.

import { h, injectStyle, setText } from "../shared/dom";
import { formatNumber } from "../shared/format";
import type { AnyWidget, RenderProps } from "@anywidget/types";
import { REQUEST } from "../shared/kinds";
import type { BaseTraits } from "../shared/request";
import { RequestButtons } from "../shared/request_buttons";
import { BASE_CSS, ROOT_ATTRS, keepKeys } from "../shared/theme";
import { watch } from "../shared/watch";
import { geometry, type Point } from "../federated/chart";
import { ago, clockTime, type Info, type Round, roundText, ruleText } from "../federated/view";

// Rows as qwidgets/widgets/federated_panel.py sends them (client ids shortened).
interface ClientRow {
  id: string;
  registered_on: string;
  last_seen: string;
  updates: number;
  scores: number;
  pending: number;
}

interface AggregateRow {
  id: number | null;
  version: number | null;
  parent: number | null;
  n_clients: number | null;
  n_updates: number | null;
  num_samples: number | null;
  validation_score: number | null;
  n_scores: number | null;
  trigger: string | null;
  created_on: string | null;
}

// The traits of qwidgets/widgets/federated_panel.py this view reads.
type Traits = BaseTraits & {
  federated_model_id: number;
  info: Info;
  clients: ClientRow[];
  current_round: Round;
  aggregates: AggregateRow[];
  scores: [number, number | null][];
  live: boolean;
  status: string;
  error: string;
  updated_on: string;
};

const SVG = "http://www.w3.org/2000/svg";
const W = 420, H = 170;

const CSS = `${BASE_CSS}
.qw-fed { display: flex; flex-direction: column; gap: 6px; max-width: 980px; }
.qw-fed .qw-tools { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.qw-fed .qw-cols { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.qw-fed table { border-collapse: collapse; font-size: var(--jp-ui-font-size1, 13px); }
.qw-fed th, .qw-fed td { padding: 2px 8px; border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); text-align: right; white-space: nowrap; }
.qw-fed th { font-weight: 600; color: var(--jp-ui-font-color2, #616161); }
.qw-fed td.qw-left, .qw-fed th.qw-left { text-align: left; }
.qw-fed caption { text-align: left; font-weight: 600; padding: 2px 0; }
.qw-fed .qw-scroll { max-height: 260px; overflow-y: auto; }
.qw-fed tr[data-pending="true"] td:first-child::after { content: " ●"; color: var(--jp-brand-color1, #1976d2); }
.qw-fed svg text { fill: var(--jp-ui-font-color2, #616161); font-size: 10px; font-family: inherit; }
.qw-fed svg .qw-axis { stroke: var(--jp-border-color1, #bdbdbd); }
.qw-fed svg .qw-line { fill: none; stroke: var(--jp-brand-color1, #1976d2); stroke-width: 2; }
.qw-fed svg .qw-dot { fill: var(--jp-brand-color1, #1976d2); }
.qw-fed .qw-chart:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.qw-fed button[aria-pressed="true"] { background: var(--jp-brand-color1, #1976d2); color: var(--jp-ui-inverse-font-color1, #fff); }
`;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function cell(value: unknown, left = false): HTMLTableCellElement {
  return h("td", { class: left ? "qw-left" : undefined }, value === null || value === undefined ? "–" : typeof value === "number" ? formatNumber(value) : String(value));
}

function header(...names: string[]): HTMLTableRowElement {
  return h("tr", {}, ...names.map((n, i) => h("th", { scope: "col", class: i === 0 ? "qw-left" : undefined }, n)));
}

function render({ model, el }: RenderProps<Traits>): () => void {
  injectStyle(el, "federated_panel", CSS);
  const title = h("strong", { class: "qw-title" });
  const badge = h("span", { class: "qw-badge", role: "status", "aria-label": "panel status" });
  const rule = h("span", { class: "qw-muted qw-rule" });
  const live = h("button", { type: "button", class: "qw-live", "aria-pressed": "false", "aria-label": "Poll the service live" }, "Live");
  const refresh = h("button", { type: "button", class: "qw-refresh", "aria-label": "Refresh now" }, "Refresh");
  const aggregateNow = h("button", { type: "button", class: "qw-aggregate-now", "aria-label": "Aggregate the pending updates now" }, "Aggregate now");
  const roundLine = h("div", { class: "qw-round", "aria-live": "polite" });
  const error = h("div", { class: "qw-error qw-message", role: "alert" });
  const updated = h("span", { class: "qw-muted qw-updated" });
  const clientsBody = h("tbody");
  const clientsTable = h("table", { class: "qw-clients" }, h("caption", {}, "Clients"),
    h("thead", {}, header("client", "last seen", "updates", "scores")), clientsBody);
  const chart = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: "qw-chart", role: "img", tabindex: 0 });
  const chartTitle = h("div", { class: "qw-muted qw-chart-title" });
  const aggBody = h("tbody");
  const aggTable = h("table", { class: "qw-aggregates" }, h("caption", {}, "Aggregates (latest first)"),
    h("thead", {}, header("version", "id", "parent", "clients", "updates", "samples", "score", "reports", "trigger", "created")), aggBody);
  const root = h("div", { class: "qw-root qw-fed", ...ROOT_ATTRS },
    h("div", { class: "qw-head" }, title, badge, rule, h("span", { class: "qw-grow" }), updated),
    h("div", { class: "qw-tools" }, live, refresh, aggregateNow),
    roundLine, error,
    h("div", { class: "qw-cols" }, h("div", { class: "qw-scroll" }, clientsTable), h("div", {}, chartTitle, chart)),
    h("div", { class: "qw-scroll" }, aggTable));
  keepKeys(root);
  el.replaceChildren(root);

  const requests = new RequestButtons(model, 30_000, () => showHead());
  const offline = () => !!model.get("_offline");

  const showHead = () => {
    const info = model.get("info") ?? {};
    const status = String(model.get("status") || "idle");
    setText(title, `Federated model ${model.get("federated_model_id")}${info.name ? ` · ${info.name}` : ""}`);
    badge.dataset.state = status === "live" ? "Running" : status === "error" ? "failed" : status;
    setText(badge, status);
    setText(rule, ruleText(info));
    const now = String(model.get("updated_on") || "");
    setText(updated, now ? `as of ${clockTime(now)} UTC` : "");
    const isLive = !!model.get("live");
    live.setAttribute("aria-pressed", String(isLive));
    setText(live, isLive ? "Live ●" : "Live");
    for (const b of [live, refresh, aggregateNow]) {
      b.disabled = offline() || requests.busy;
      b.title = offline() ? "no kernel: this is a saved copy of the last state" : "";
    }
    const clients = (model.get("clients") ?? []).length;
    setText(roundLine, roundText(model.get("current_round") ?? {}, clients));
    const messages = [model.get("error"), requests.error].filter(Boolean);
    setText(error, messages.join("\n"));
    error.hidden = !messages.length;
  };

  const showClients = () => {
    const now = String(model.get("updated_on") || "");
    const rows = model.get("clients") ?? [];
    clientsBody.replaceChildren(...rows.map((c) => {
      const tr = h("tr", {}, cell(c.id, true), cell(ago(c.last_seen, now) || c.last_seen), cell(c.updates), cell(c.scores));
      tr.dataset.pending = String((c.pending ?? 0) > 0);
      tr.title = `registered ${c.registered_on}; last seen ${c.last_seen}`;
      return tr;
    }));
    if (!rows.length) clientsBody.replaceChildren(h("tr", {}, h("td", { class: "qw-left qw-muted", colspan: 4 }, "no client registered yet")));
  };

  const showAggregates = () => {
    const rows = [...(model.get("aggregates") ?? [])].reverse();
    aggBody.replaceChildren(...rows.map((a) => h("tr", {},
      cell(a.version, true), cell(a.id), cell(a.parent), cell(a.n_clients), cell(a.n_updates), cell(a.num_samples),
      cell(a.validation_score), cell(a.n_scores), cell(a.trigger), cell(clockTime(a.created_on ?? "")))));
    if (!rows.length) aggBody.replaceChildren(h("tr", {}, h("td", { class: "qw-left qw-muted", colspan: 10 }, "no aggregate yet")));
  };

  const showChart = () => {
    const points = (model.get("scores") ?? []).map(([v, s]): Point => [Number(v), s === null || s === undefined ? null : Number(s)]);
    const key = (model.get("info") ?? {}).score_key ?? "score";
    const g = geometry(points, W, H);
    const parts: SVGElement[] = [];
    const left = 44, bottom = H - 22;
    parts.push(svg("line", { x1: left, y1: 10, x2: left, y2: bottom, class: "qw-axis" }));
    parts.push(svg("line", { x1: left, y1: bottom, x2: W - 10, y2: bottom, class: "qw-axis" }));
    for (const t of g.yTicks) {
      const label = svg("text", { x: left - 4, y: t.at + 3, "text-anchor": "end" });
      label.textContent = formatNumber(t.label, 3);
      parts.push(label, svg("line", { x1: left - 2, y1: t.at, x2: left, y2: t.at, class: "qw-axis" }));
    }
    for (const t of g.xTicks) {
      const label = svg("text", { x: t.at, y: bottom + 14, "text-anchor": "middle" });
      label.textContent = String(t.label);
      parts.push(label);
    }
    if (g.path) parts.push(svg("path", { d: g.path, class: "qw-line" }));
    for (const d of g.dots.slice(-60)) {
      const dot = svg("circle", { cx: d.x, cy: d.y, r: 2.5, class: "qw-dot" });
      const tip = svg("title");
      tip.textContent = `version ${d.version}: ${key} ${formatNumber(d.score)}`;
      dot.append(tip);
      parts.push(dot);
    }
    if (!g.last) {
      const none = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" });
      none.textContent = `no validation scores yet (waiting for '${key}')`;
      parts.push(none);
    }
    chart.replaceChildren(...parts);
    const summary = g.last ? `validation ${key} per aggregate version; latest ${formatNumber(g.last.score)} at version ${g.last.version}` : `validation ${key}: no scores yet (waiting for '${key}' in the clients' validation results)`;
    chart.setAttribute("aria-label", summary);
    setText(chartTitle, g.last ? `Validation ${key} (mean over clients): ${formatNumber(g.last.score)}` : `Validation ${key}`);
  };

  requests.bind(live, REQUEST.live, { supersede: true, fields: () => ({ on: !model.get("live") }) });
  requests.bind(refresh, REQUEST.refresh, { supersede: true });
  requests.bind(aggregateNow, REQUEST.aggregate_now, { supersede: true });

  const unwatch = [
    watch(model, ["info", "status", "live", "error", "updated_on", "current_round", "clients", "_offline", "federated_model_id"], showHead),
    watch(model, ["clients", "updated_on"], showClients),
    watch(model, ["aggregates"], showAggregates),
    watch(model, ["scores", "info"], showChart),
  ];
  showHead();
  showClients();
  showAggregates();
  showChart();

  return () => {
    for (const off of unwatch) off();
    requests.dispose();
  };
}

export default { render } satisfies AnyWidget<Traits>;
