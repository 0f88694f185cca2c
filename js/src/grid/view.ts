// The grid's view state (sort and filters), how header clicks and filter inputs change it,
// and how cells and summaries read.
import { formatNumber } from "../shared/format";
import type { Cell, ColumnMeta, Filters, FilterSpec, Kind, Summary, ViewState } from "./types";

export const NUMERIC: ReadonlySet<Kind> = new Set<Kind>(["float", "int", "uint", "bool"]);

export function isNumeric(kind: Kind): boolean {
  return NUMERIC.has(kind);
}

// Identifies a view's rows: the same key means the same pages.
export function viewKey(version: number, s: ViewState): string {
  const filters = Object.keys(s.filters).sort().map((k) => [k, s.filters[k].min ?? null, s.filters[k].max ?? null, s.filters[k].contains ?? null]);
  return JSON.stringify([version, s.sortBy, s.sortBy === null ? false : s.descending, filters]);
}

// A header click: unsorted -> ascending -> descending -> unsorted; another column starts ascending.
export function nextSort(s: ViewState, column: string): { sortBy: string | null; descending: boolean } {
  if (s.sortBy !== column) return { sortBy: column, descending: false };
  if (!s.descending) return { sortBy: column, descending: true };
  return { sortBy: null, descending: false };
}

export function ariaSort(s: ViewState, column: string): "ascending" | "descending" | "none" {
  if (s.sortBy !== column) return "none";
  return s.descending ? "descending" : "ascending";
}

// A bound typed into a filter box: a number, null for none, or an error message.
export function parseBound(text: string): number | null | { error: string } {
  const t = text.trim();
  if (t === "") return null;
  const v = Number(t);
  if (!Number.isFinite(v)) return { error: `"${t}" is not a number` };
  return v;
}

// The filters trait from what the boxes hold; empty boxes add nothing.
export function buildFilters(entries: { name: string; min?: number | null; max?: number | null; contains?: string }[]): Filters {
  const out: Filters = {};
  for (const e of entries) {
    const spec: FilterSpec = {};
    if (e.min !== undefined && e.min !== null) spec.min = e.min;
    if (e.max !== undefined && e.max !== null) spec.max = e.max;
    if (e.contains) spec.contains = e.contains;
    if (Object.keys(spec).length) out[e.name] = spec;
  }
  return out;
}

export function filtersFromTrait(value: unknown): Filters {
  const out: Filters = {};
  if (!value || typeof value !== "object") return out;
  for (const [name, raw] of Object.entries(value)) {
    if (!raw || typeof raw !== "object") continue;
    const spec = raw as Record<string, unknown>;
    const f: FilterSpec = {};
    if (typeof spec.min === "number") f.min = spec.min;
    if (typeof spec.max === "number") f.max = spec.max;
    if (typeof spec.contains === "string" && spec.contains) f.contains = spec.contains;
    if (Object.keys(f).length) out[name] = f;
  }
  return out;
}

// A float as a data table shows it: eight significant digits, no digit grouping (so whole
// numbers read the same in a float column as in an integer one), exponents only where
// JavaScript itself uses them (below 1e-6, from 1e21).
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "-∞";
  return Number(v.toPrecision(8)).toString();
}

// What a cell shows (always set as text, never as HTML).
export function formatCell(value: Cell | undefined, kind: Kind): string {
  if (value === undefined) return "";
  if (value === null) return kind === "datetime" ? "NaT" : "";
  if (typeof value === "string") return value;
  if (kind === "bool") return value ? "True" : "False";
  if (kind === "int" || kind === "uint") return String(value);
  return formatFloat(value);
}

// How strongly an error cell is tinted: |error| against the column's typical large error.
export function errorTint(value: Cell | undefined, scale: number | undefined): number {
  if (typeof value !== "number" || !Number.isFinite(value)) return 0;
  if (!scale || !Number.isFinite(scale) || scale <= 0) return value === 0 ? 0 : 1;
  return Math.min(1, Math.abs(value) / scale);
}

function num(v: unknown): string {
  if (typeof v === "number") return formatNumber(v, 4);
  return v === null || v === undefined ? "–" : String(v);
}

// One line under the column name.
export function summaryLine(s: Summary | undefined, col: ColumnMeta): string {
  if (!s) return "";
  const parts: string[] = [];
  if (col.role === "error" && s.mae !== undefined) parts.push(`MAE ${num(s.mae)}`);
  else if (s.min !== undefined && s.max !== undefined) parts.push(`${num(s.min)} … ${num(s.max)}`);
  if (s.distinct !== undefined) parts.push(`${num(s.distinct)} distinct`);
  if (typeof s.missing === "number" && s.missing > 0) parts.push(`${num(s.missing)} missing`);
  return parts.join(" · ");
}

// The header's tooltip: every figure of the summary, one per line.
export function summaryTooltip(s: Summary | undefined, col: ColumnMeta): string {
  const lines = [`${col.name} (${col.dtype})`];
  if (col.role === "pred") lines.push(`forecast, paired with ${col.pair}`);
  if (col.role === "actual") lines.push(`actual values of ${col.pair}`);
  if (col.role === "error") lines.push(`error: ${col.pair} minus its actual value`);
  if (s) {
    for (const k of ["count", "missing", "min", "max", "mean", "distinct", "mae", "rmse"]) {
      if (s[k] !== undefined) lines.push(`${k}: ${num(s[k])}`);
    }
  }
  return lines.join("\n");
}

export function columnWidth(col: ColumnMeta): number {
  const base = col.kind === "text" ? 180 : col.kind === "datetime" ? 170 : col.kind === "bool" ? 80 : 120;
  return Math.min(320, Math.max(base, col.name.length * 8 + 34));
}
