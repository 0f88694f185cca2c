// Pure pieces of the PipelineView: labels, buttons, progress and timeline lines.
import { REQUEST, type RequestKind } from "../shared/kinds";

export interface ActionRow {
  name: string;
  state: string; // "" before it runs
  status: string;
  progress: number | null;
  guid: string;
  detail: string;
}

export interface EventRow {
  t: number;
  action: string; // "" for the pipeline's own events
  state: string;
  status: string;
  detail: string;
}

export const FINAL = new Set(["Done", "Error", "Stopped"]);

export function stateLabel(state: string | null | undefined): string {
  return state ? state : "Waiting";
}

export interface Buttons {
  stop: { disabled: boolean; label: string };
  resume: { disabled: boolean; label: string };
  hidden: boolean;
}

// `pending` is the request in flight (stop or resume), null when none is.
export function buttons(state: string, running: boolean, offline: boolean, pending: RequestKind | null): Buttons {
  const started = state !== "";
  return {
    hidden: offline,
    stop: {
      disabled: offline || !running || pending !== null,
      label: pending === REQUEST.stop ? "Stopping…" : "Stop",
    },
    resume: {
      disabled: offline || running || pending !== null || state === "Done",
      label: pending === REQUEST.resume ? "Starting…" : started ? "Resume" : "Start",
    },
  };
}

export function progressOf(row: Pick<ActionRow, "state" | "progress">): number | null {
  if (row.state === "Done") return 100;
  const p = row.progress;
  if (typeof p !== "number" || !Number.isFinite(p)) return null;
  return Math.min(100, Math.max(0, p));
}

export function clockTime(t: number): string {
  const d = new Date(t * 1000);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

export function relative(t: number, t0: number): string {
  if (!Number.isFinite(t) || !Number.isFinite(t0) || t0 <= 0) return "";
  const s = Math.max(0, t - t0);
  return s < 60 ? `+${s.toFixed(2)} s` : `+${Math.floor(s / 60)} min ${(s % 60).toFixed(0)} s`;
}

export function eventText(e: EventRow): string {
  const who = e.action || "pipeline";
  return [who, e.state, e.status, e.detail].filter(Boolean).join(" · ");
}

// Counts how many actions are in each state, for the header line ("2 of 4 done").
export function summary(rows: Pick<ActionRow, "state">[]): string {
  if (!rows.length) return "";
  const done = rows.filter((r) => r.state === "Done").length;
  return `${done} of ${rows.length} done`;
}
