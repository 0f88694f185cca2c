// The grid without a kernel (an exported page): the first rows of the view were saved with
// the widget (`_offline_rows`), and sort, filters and paging run here over them, with the
// kernel's rules: stable sorts, missing values last in both directions, numeric ranges
// inclusive (NaN never inside), text found ignoring case.
import { formatCell, isNumeric } from "./view";
import type { Cell, ColumnMeta, Summary, ViewState, WindowData } from "./types";

export interface OfflineRows {
  columns: string[];
  data: Record<string, unknown[]>;
  index: unknown[];
  rows: number;
  total: number;
  frame_rows?: number;
  summaries?: Record<string, Summary>;
  scales?: Record<string, number>;
}

export interface LocalTable {
  metas: ColumnMeta[];
  index: Cell[];
  columns: Record<string, Cell[]>;
  rows: number;
  total: number; // rows of the view in the kernel when it was saved
  summaries: Record<string, Summary>;
  scales: Record<string, number>;
}

export function isOfflinePayload(v: unknown): v is OfflineRows {
  if (!v || typeof v !== "object") return false;
  const p = v as { columns?: unknown; data?: unknown };
  return Array.isArray(p.columns) && !!p.data && typeof p.data === "object";
}

function numberCell(v: unknown): Cell {
  if (v === null || v === undefined) return Number.NaN;
  if (typeof v === "number") return v;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  return String(v); // an integer beyond 2**53, kept exact as text
}

export function decodeOffline(p: OfflineRows, metas: ColumnMeta[]): LocalTable {
  const columns: Record<string, Cell[]> = {};
  const rows = Number(p.rows ?? p.index?.length ?? 0);
  for (const m of metas) {
    const raw = p.data[m.name] ?? [];
    columns[m.name] = isNumeric(m.kind) ? raw.map(numberCell) : raw.map((v) => (v === null || v === undefined ? null : String(v)));
  }
  return {
    metas, columns, rows,
    index: (p.index ?? []).map((v) => (typeof v === "number" || typeof v === "string" ? v : String(v))),
    total: Number(p.total ?? rows),
    summaries: p.summaries ?? {},
    scales: p.scales ?? {},
  };
}

function missing(v: Cell): boolean {
  return v === null || (typeof v === "number" && Number.isNaN(v));
}

function compare(a: Cell, b: Cell): number {
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  const x = typeof a === "number" ? a : Number(a);
  const y = typeof b === "number" ? b : Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function passes(t: LocalTable, row: number, s: ViewState): boolean {
  for (const [name, spec] of Object.entries(s.filters)) {
    const meta = t.metas.find((m) => m.name === name);
    const v = t.columns[name]?.[row];
    if (!meta || v === undefined) return false;
    if (isNumeric(meta.kind)) {
      if (missing(v)) return false;
      const n = typeof v === "number" ? v : Number(v);
      if (spec.min !== undefined && !(n >= spec.min)) return false;
      if (spec.max !== undefined && !(n <= spec.max)) return false;
    } else if (spec.contains) {
      if (v === null) return false;
      if (!formatCell(v, meta.kind).toLowerCase().includes(spec.contains.toLowerCase())) return false;
    }
  }
  return true;
}

// Row numbers (into the saved rows) of the view, in order.
export function localOrder(t: LocalTable, s: ViewState): number[] {
  const rows: number[] = [];
  for (let r = 0; r < t.rows; r++) if (passes(t, r, s)) rows.push(r);
  if (s.sortBy === null || !(s.sortBy in t.columns)) return rows;
  const values = t.columns[s.sortBy];
  const sign = s.descending ? -1 : 1;
  // Array.prototype.sort is stable: ties keep the saved order, as in the kernel.
  return rows.sort((a, b) => {
    const va = values[a];
    const vb = values[b];
    const ma = missing(va);
    const mb = missing(vb);
    if (ma || mb) return ma === mb ? 0 : ma ? 1 : -1;
    return sign * compare(va, vb);
  });
}

export function localWindow(t: LocalTable, order: number[], offset: number, limit: number): WindowData {
  const start = Math.min(Math.max(0, offset), order.length);
  const picked = order.slice(start, Math.min(order.length, start + Math.max(0, limit)));
  const columns: Record<string, Cell[]> = {};
  for (const m of t.metas) columns[m.name] = picked.map((r) => t.columns[m.name]?.[r] ?? null);
  return { offset: start, count: picked.length, total: order.length, index: picked.map((r) => t.index[r] ?? r), columns, scales: t.scales };
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvValue(v: Cell, meta: ColumnMeta): string {
  if (missing(v)) return "";
  if (typeof v === "number") {
    if (meta.kind === "bool") return v ? "True" : "False";
    return String(v);
  }
  return String(v);
}

// The view as CSV, with the index first, as pandas writes it.
export function toCsv(t: LocalTable, order: number[], indexName = ""): string {
  const lines = [[indexName, ...t.metas.map((m) => m.name)].map(csvField).join(",")];
  for (const r of order) {
    const cells = [csvField(String(t.index[r] ?? r)), ...t.metas.map((m) => csvField(csvValue(t.columns[m.name]?.[r] ?? null, m)))];
    lines.push(cells.join(","));
  }
  return lines.join("\n") + "\n";
}
