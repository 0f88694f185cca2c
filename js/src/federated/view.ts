// Text of the FederatedPanel (pure, unit-tested): the rule, the round in progress, and how
// long ago a client was seen.

export interface Info {
  name?: string; rule?: string; aggregation?: string; x_updates?: number | null;
  period_s?: number | null; score_key?: string;
}

export interface Round {
  version?: number; pending_updates?: number; ready?: boolean; waiting_for?: string[];
  clients_sent?: string[]; updates_needed?: number; next_aggregation_in_s?: number | null;
}

export function ruleText(info: Info): string {
  const how = info.aggregation === "fedavg" ? "FedAvg (weighted by samples)" : info.aggregation === "mean" ? "unweighted mean" : "";
  let when = "";
  if (info.rule === "all_clients") when = "once every client sent an update";
  else if (info.rule === "x_updates") when = `once ${info.x_updates ?? "?"} updates arrived`;
  else if (info.rule === "periodic") when = "whatever arrived";
  if (info.period_s) when += `${info.rule === "periodic" ? "" : ", checked"} every ${info.period_s} s`;
  return [how, when].filter(Boolean).join(", ");
}

export function roundText(round: Round, clients: number): string {
  if (round.version === undefined) return "";
  const pending = round.pending_updates ?? 0;
  let text = `Round ${round.version}: ${pending} update${pending === 1 ? "" : "s"} pending`;
  if (round.waiting_for !== undefined) {
    const sent = clients - round.waiting_for.length;
    text += `, ${sent} of ${clients} client${clients === 1 ? "" : "s"} sent`;
    if (round.waiting_for.length && round.waiting_for.length <= 4) text += ` (waiting for ${round.waiting_for.join(", ")})`;
  } else if (round.updates_needed !== undefined) {
    text += `, ${round.updates_needed} more needed`;
  }
  if (round.next_aggregation_in_s !== null && round.next_aggregation_in_s !== undefined) {
    text += `; next check in ${Math.ceil(round.next_aggregation_in_s)} s`;
  }
  return text;
}

export function ago(when: string, now: string): string {
  const t = Date.parse(when), n = Date.parse(now);
  if (!Number.isFinite(t) || !Number.isFinite(n)) return "";
  const s = Math.max(0, Math.round((n - t) / 1000));
  if (s < 2) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.floor(hours / 24)} d ago`;
}

export function clockTime(when: string): string {
  const t = Date.parse(when);
  if (!Number.isFinite(t)) return "";
  return new Date(t).toISOString().slice(11, 19);
}
