// The SweepBoard's pure logic (unit-tested in js/test/sweep_board.test.ts): the order of the
// rows for a sort column (the same order as qwidgets/widgets/sweep_board_rows.py gives the
// static form), the header's sort cycle, and the texts of the cells.
import { formatDuration, formatNumber } from "../shared/format";

export type Cell = string | number | boolean | null;

// One configuration as the kernel syncs it (sweep_board_rows.row_view).
export interface Row {
  index: number;
  config: Record<string, Cell>;
  status: string;
  reason: string;
  progress: number;
  loss: (number | null)[];
  last_loss: number | null;
  steps: number;
  metric: number | null;
  train_time_s: number | null;
  guid: string | null;
}

export interface SortState {
  sortBy: string;
  descending: boolean;
}

// The board's own columns, after the configuration's; "loss" sorts by the last loss.
export const FIXED = ["index", "status", "progress", "loss", "metric", "train_time_s"] as const;
export const CANCELLABLE = new Set(["queued", "pending", "processing"]);
export const FINAL = new Set(["completed", "failed", "cancelled", "invalid"]);

export function sortValue(row: Row, column: string): Cell | undefined {
  if (column === "loss") return row.last_loss;
  if ((FIXED as readonly string[]).includes(column)) return row[column as keyof Row] as Cell;
  return row.config[column];
}

function key(value: Cell): [number, number | string] {
  if (typeof value === "number") return [0, value];
  if (typeof value === "boolean") return [0, value ? 1 : 0];
  return [1, String(value)];
}

function compare(a: Cell, b: Cell): number {
  const [ka, va] = key(a);
  const [kb, vb] = key(b);
  if (ka !== kb) return ka - kb;
  if (va < vb) return -1;
  if (va > vb) return 1;
  return 0;
}

// Stable; rows without a value (null) last whatever the direction; numbers before text in a
// column that mixes them (after them when descending); "" keeps the sweep's order.
export function sortRows(rows: readonly Row[], state: SortState): Row[] {
  if (!state.sortBy) return [...rows];
  const present: Row[] = [];
  const absent: Row[] = [];
  for (const row of rows) {
    const v = sortValue(row, state.sortBy);
    (v === null || v === undefined ? absent : present).push(row);
  }
  const sign = state.descending ? -1 : 1;
  present.sort((a, b) => sign * compare(sortValue(a, state.sortBy) as Cell, sortValue(b, state.sortBy) as Cell));
  return [...present, ...absent];
}

// Clicks on a header cycle ascending, descending, the sweep's order.
export function nextSort(state: SortState, column: string): SortState {
  if (state.sortBy !== column) return { sortBy: column, descending: false };
  if (!state.descending) return { sortBy: column, descending: true };
  return { sortBy: "", descending: false };
}

export function ariaSort(state: SortState, column: string): "ascending" | "descending" | "none" {
  if (state.sortBy !== column) return "none";
  return state.descending ? "descending" : "ascending";
}

export function cellText(value: Cell | undefined): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return formatNumber(value);
  return String(value);
}

export function progressText(row: Row): string {
  const p = Math.max(0, Math.min(100, Number(row.progress) || 0));
  return `${Math.round(p)}%`;
}

export function timeText(seconds: number | null): string {
  if (seconds === null || seconds === undefined) return "";
  return seconds < 10 ? `${formatNumber(seconds, 2)} s` : formatDuration(seconds);
}

// "12 configurations: 7 completed, 1 failed, 4 processing", statuses in alphabetical order.
export function summary(rows: readonly Row[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  const parts = [...counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([s, n]) => `${n} ${s}`);
  const head = `${rows.length} configuration${rows.length === 1 ? "" : "s"}`;
  return parts.length ? `${head}: ${parts.join(", ")}` : head;
}

// The polyline of a sparkline in a width x height box (2 px margin); gaps (null, NaN) are
// skipped; "" when nothing is finite. The y axis grows upwards.
export function sparkPoints(values: readonly (number | null)[], width: number, height: number): string {
  const finite: [number, number][] = [];
  values.forEach((v, i) => {
    if (typeof v === "number" && Number.isFinite(v)) finite.push([i, v]);
  });
  if (!finite.length) return "";
  let lo = Infinity;
  let hi = -Infinity;
  for (const [, v] of finite) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const spanX = Math.max(1, values.length - 1);
  const spanY = hi - lo || 1;
  return finite.map(([i, v]) => {
    const x = 2 + (i / spanX) * (width - 4);
    const y = hi === lo ? height / 2 : 2 + ((hi - v) / spanY) * (height - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(" ");
}
