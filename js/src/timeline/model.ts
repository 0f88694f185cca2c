// JobTimeline's pure logic: a job's events turned into phases with durations, their share of a
// horizontal bar, and the texts shown for queue position and state. No DOM: unit-tested.

export interface JobEvent {
  type: string;
  time: number; // epoch seconds
  message?: string;
}

export type PhaseKind = "wait" | "setup" | "run" | "done" | "fail" | "cancel" | "other";

export interface Phase {
  type: string;
  kind: PhaseKind;
  message: string;
  start: number;
  end: number;
  duration: number; // seconds
  open: boolean; // still going: its end is "now"
}

export const TERMINAL_STATES = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const END_EVENTS = new Set(["COMPLETED", "FAILED", "CANCELLED", "MAX_RUNTIME_EXCEEDED"]);

const KINDS: Record<string, PhaseKind> = {
  WAITING_FOR_PRIORITY: "wait",
  QUEUED_FOR_EXECUTION: "wait",
  DEPRIORITIZED_DUE_TO_INACTIVITY: "wait",
  STARTING_INSTANCE: "setup",
  DOWNLOADING_DATA: "setup",
  RUNNING: "run",
  UPLOADING_RESULTS: "setup",
  COMPLETED: "done",
  FAILED: "fail",
  MAX_RUNTIME_EXCEEDED: "fail",
  CANCELLED: "cancel",
};

export function eventKind(type: string): PhaseKind {
  return KINDS[type] ?? "other";
}

export function isTerminal(status: string): boolean {
  return TERMINAL_STATES.has(status);
}

/** Events in time order (stable for equal times), each lasting until the next one. The last
 * one is open (ends at `now`) while the job runs; an end event (COMPLETED, FAILED...) is a
 * point. A job that ended without an end event closes at `endedAt`. */
export function phases(events: readonly JobEvent[], status: string, endedAt: number | null | undefined, now: number): Phase[] {
  const sorted = events
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => typeof e.time === "number" && Number.isFinite(e.time))
    .sort((a, b) => a.e.time - b.e.time || a.i - b.i)
    .map(({ e }) => e);
  const done = isTerminal(status);
  return sorted.map((e, i) => {
    const next = sorted[i + 1];
    let end: number;
    let open = false;
    if (next) end = next.time;
    else if (END_EVENTS.has(e.type)) end = e.time;
    else if (done) end = typeof endedAt === "number" ? Math.max(e.time, endedAt) : e.time;
    else {
      end = Math.max(e.time, now);
      open = true;
    }
    return { type: e.type, kind: eventKind(e.type), message: String(e.message ?? ""), start: e.time, end, duration: end - e.time, open };
  });
}

/** Each phase's share of the bar (they sum to 1): proportional to duration, but never below
 * `minShare`, so that an instant phase stays visible and clickable. */
export function shares(list: readonly Phase[], minShare = 0.03): number[] {
  const n = list.length;
  if (!n) return [];
  const floor = Math.min(minShare, 1 / n);
  const total = list.reduce((s, p) => s + Math.max(0, p.duration), 0);
  if (total <= 0) return list.map(() => 1 / n);
  const raw = list.map((p) => Math.max(0, p.duration) / total);
  // phases below the floor get it; the others share what is left in proportion. Scaling the
  // others down can push one of them under the floor in turn: repeat until nothing changes.
  const small = raw.map(() => false);
  for (;;) {
    const fixed = small.filter(Boolean).length * floor;
    const rest = raw.reduce((s, r, i) => (small[i] ? s : s + r), 0);
    const out = raw.map((r, i) => (small[i] ? floor : rest > 0 ? (r / rest) * (1 - fixed) : 0));
    const more = out.findIndex((x, i) => !small[i] && x < floor);
    if (more < 0) return out;
    out.forEach((x, i) => { if (!small[i] && x < floor) small[i] = true; });
  }
}

/** The queue line: Braket's position is a string ('3', '>15') and approximate. */
export function queueText(position: string | null | undefined, message: string | null | undefined, status: string): string {
  const p = (position ?? "").trim();
  if (p && p !== "None") {
    if (p.startsWith(">")) return `Queue position: more than ${p.slice(1)} (JOBS_QUEUE, approximate)`;
    return `Queue position: ${p} (JOBS_QUEUE, approximate)`;
  }
  if (message) return String(message);
  return status === "QUEUED" ? "Queued (position not known yet)" : "";
}

/** Local wall-clock time of an epoch instant, HH:MM:SS. */
export function clockTime(epochSeconds: number, withDate = false): string {
  if (!Number.isFinite(epochSeconds)) return "";
  const d = new Date(epochSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return withDate ? `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${time}` : time;
}

/** Durations under a minute keep a decimal (jobs on the simulator take milliseconds). */
export function durationText(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Total time from creation to the end (or `now` while it runs). */
export function elapsed(createdAt: number | null | undefined, endedAt: number | null | undefined, status: string, now: number): number | null {
  if (typeof createdAt !== "number") return null;
  const end = isTerminal(status) ? (typeof endedAt === "number" ? endedAt : null) : now;
  return end === null ? null : Math.max(0, end - createdAt);
}

export function canCancel(status: string, offline: boolean, cancelling: boolean): boolean {
  return !offline && !cancelling && (status === "QUEUED" || status === "RUNNING");
}

/** One sentence for screen readers: the bar's content. */
export function summary(list: readonly Phase[]): string {
  if (!list.length) return "no events yet";
  return list.map((p) => `${p.type.toLowerCase().replace(/_/g, " ")} ${durationText(p.duration)}${p.open ? " so far" : ""}`).join(", ");
}
