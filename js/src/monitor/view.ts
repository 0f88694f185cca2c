// Pure pieces of the monitor's view: what the status, progress and ETA lines say.

import { formatDuration } from "../shared/format";

export const FINAL = new Set(["completed", "failed", "cancelled", "disconnected"]);

export function percent(v: unknown): number {
  const n = typeof v === "number" && Number.isFinite(v) ? v : 0;
  return Math.min(100, Math.max(0, n));
}

export function positionText(passIndex: number, numPasses: number, batchIndex: number, numBatches: number): string {
  if (!numPasses) return "";
  const pass = Math.min(passIndex + 1, numPasses);
  const batch = numBatches ? ` · batch ${Math.min(batchIndex + 1, numBatches)} of ${numBatches}` : "";
  return `pass ${pass} of ${numPasses}${batch}`;
}

export function etaText(status: string, eta: number | null | undefined): string {
  if (FINAL.has(status)) return "";
  if (status === "cancelled_pending") return "stopping…";
  if (eta === null || eta === undefined) return status === "processing" ? "ETA estimating…" : "";
  return `ETA ${formatDuration(eta)}`;
}

export function pointsText(total: number, shown: number): string {
  if (!total) return "";
  const t = total.toLocaleString("en-US").replace(/,/g, " ");
  const noun = total === 1 ? "value" : "values";
  return shown < total ? `${t} ${noun}, ${shown.toLocaleString("en-US").replace(/,/g, " ")} drawn (min/max per bucket)` : `${t} ${noun}`;
}

// The solver's warning as the line shows it; empty hides the line.
export function warningText(warning: unknown): string {
  return typeof warning === "string" && warning.trim() ? `Warning: ${warning.trim()}` : "";
}
