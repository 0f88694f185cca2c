// DeviceQueueGauges' pure logic: how full a gauge is, where your item sits on it, and the texts
// shown for counts, positions, states and freshness. No DOM: unit-tested in js/test/gauges.test.ts.

export interface Count {
  raw: string | null;
  value: number | null;
  lower_bound: boolean;
  approximate: boolean;
  note: string | null;
  display: string;
}

export interface Queue extends Count {
  key: "normal" | "priority" | "jobs";
  label: string;
  cap: number;
}

export interface Mine {
  kind: "task" | "job";
  arn: string;
  id: string;
  status: string;
  queue: "normal" | "priority" | "jobs";
  position: Count;
  message: string | null;
}

export interface DeviceState {
  arn: string;
  name: string;
  provider: string;
  type: string;
  status: string;
  stale: boolean;
  queues: Queue[];
  mine: Mine[];
}

// Queue sizes span 0 to thousands: a logarithmic scale keeps 3 and 30 apart while 4000 still
// fits. A lower bound ('>4000') fills the gauge: it is at least the cap.
export function fillFraction(value: number | null | undefined, cap: number, lowerBound = false): number {
  if (value === null || value === undefined || !Number.isFinite(value) || value <= 0) return lowerBound ? 1 : 0;
  if (lowerBound || value >= cap) return 1;
  return Math.min(1, Math.log1p(value) / Math.log1p(Math.max(1, cap)));
}

// Where a position marker goes: on the same scale, clamped inside the gauge.
export function markerFraction(position: number | null | undefined, cap: number): number | null {
  if (position === null || position === undefined || !Number.isFinite(position) || position < 0) return null;
  return Math.min(1, fillFraction(position, cap));
}

export function countText(c: Pick<Count, "value" | "lower_bound" | "approximate" | "display" | "note">): string {
  const base = c.display || (c.value === null ? "–" : String(c.value));
  return c.note ? `${base} · ${c.note}` : base;
}

export function countDescription(label: string, c: Count): string {
  if (c.value === null) return `${label}: unknown`;
  if (c.lower_bound) return `${label}: more than ${c.value}`;
  return `${label}: ${c.approximate ? "about " : ""}${c.value}${c.note ? ` (${c.note})` : ""}`;
}

export type Tone = "ok" | "warn" | "off" | "unknown";

export function statusTone(status: string): Tone {
  if (status === "ONLINE") return "ok";
  if (status === "OFFLINE") return "warn";
  if (status === "RETIRED") return "off";
  return "unknown";
}

export function whereText(item: Mine): string {
  const p = item.position;
  if (p.value === null) return item.message ? `${item.status}: ${item.message}` : item.status;
  const queue = item.queue === "jobs" ? "jobs queue" : item.queue === "priority" ? "priority queue" : "queue";
  return `${item.status}, position ${p.display}${p.approximate && !p.lower_bound ? " (approximate)" : ""} in the ${queue}`;
}

export function moreText(more: number): string {
  if (!more || more < 0) return "";
  return `${more} more device${more === 1 ? "" : "s"} not shown`;
}

export function agoText(updatedAt: number | null | undefined, now: number): string {
  if (updatedAt === null || updatedAt === undefined || !Number.isFinite(updatedAt)) return "not read yet";
  const s = Math.max(0, Math.round(now - updatedAt));
  if (s < 2) return "updated just now";
  if (s < 60) return `updated ${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `updated ${m} min ago`;
  return `updated ${Math.floor(m / 60)} h ${m % 60} min ago`;
}

// Your items first on each device: waiting ones by position, then the rest.
export function sortMine(items: Mine[]): Mine[] {
  return [...items].sort((a, b) => {
    const av = a.position.value, bv = b.position.value;
    if (av === null && bv === null) return a.id.localeCompare(b.id);
    if (av === null) return 1;
    if (bv === null) return -1;
    return av - bv;
  });
}
