// The grid's geometry and look: fixed row heights are what lets the body draw only the rows
// in view (grid/virtual.ts) and place them by arithmetic.
import type { ColumnMeta } from "./types";
import { columnWidth } from "./view";

export const ROW_H = 24;
export const OVERSCAN = 6;
export const INDEX_W = 90;
export const HEADER_ROWS = 3; // names, summaries, filters: body rows start at aria-rowindex 4

export const CSS = `
.qw-grid { display: flex; flex-direction: column; gap: 4px; }
.qw-grid-bar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; min-height: 24px; }
.qw-grid-spacer { flex: 1; }
.qw-grid-table { border: 1px solid var(--jp-border-color2, #e0e0e0); }
.qw-grid-head { overflow: hidden; background: var(--jp-layout-color2, #eee); border-bottom: 1px solid var(--jp-border-color1, #bdbdbd); }
.qw-grid-hrow, .qw-grid-row { display: grid; }
.qw-grid-cell { padding: 0 6px; height: ${ROW_H}px; line-height: ${ROW_H - 1}px; overflow: hidden; white-space: nowrap;
  text-overflow: ellipsis; border-right: 1px solid var(--jp-border-color3, #eee); }
.qw-grid-num { text-align: right; font-family: var(--jp-code-font-family, monospace); font-variant-numeric: tabular-nums; }
.qw-grid-idx { color: var(--jp-ui-font-color2, #616161); text-align: right; font-family: var(--jp-code-font-family, monospace); }
.qw-grid-root button.qw-grid-sort { background: none; border: none; padding: 0; width: 100%; text-align: left; font-weight: 600;
  display: flex; gap: 4px; align-items: center; cursor: pointer; }
.qw-grid-sort .qw-grid-name { overflow: hidden; text-overflow: ellipsis; }
.qw-grid-arrow { color: var(--jp-brand-color1, #1976d2); }
.qw-grid-sum { font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #616161); }
.qw-grid-filter { display: flex; gap: 2px; align-items: center; padding: 1px 3px; }
.qw-grid-filter input { width: 100%; min-width: 0; height: 20px; font-size: var(--jp-ui-font-size0, 11px); }
.qw-grid-filter input[aria-invalid="true"] { border-color: var(--jp-error-color1, #d32f2f); }
.qw-grid-scroll { overflow: auto; position: relative; overflow-anchor: none; }
.qw-grid-scroll:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 0; }
.qw-grid-sizer { position: relative; overflow: hidden; }
.qw-grid-block { position: absolute; left: 0; top: 0; will-change: transform; }
.qw-grid-row { height: ${ROW_H}px; border-bottom: 1px solid var(--jp-border-color3, #eee); }
.qw-grid-row[data-odd="1"] { background: var(--jp-layout-color2, #f7f7f7); }
.qw-grid-row.qw-grid-loading .qw-grid-idx { opacity: .5; }
.qw-grid-pred { background: color-mix(in srgb, var(--jp-brand-color1, #1976d2) 12%, transparent); }
.qw-grid-actual { background: color-mix(in srgb, var(--jp-success-color1, #388e3c) 12%, transparent); }
.qw-grid-error.qw-grid-hcell, .qw-grid-error.qw-grid-sum { background: color-mix(in srgb, var(--jp-error-color1, #d32f2f) 12%, transparent); }
.qw-grid-empty { padding: 8px; }
.qw-grid-status.qw-error { font-weight: 600; }
`;

export function roleClass(col: ColumnMeta): string {
  return col.role ? ` qw-grid-${col.role}` : "";
}

// The CSS grid columns of a header or body row: the index, then each column.
export function template(columns: ColumnMeta[]): string {
  return [`${INDEX_W}px`, ...columns.map((c) => `${columnWidth(c)}px`)].join(" ");
}

export function rowWidth(columns: ColumnMeta[]): number {
  return INDEX_W + columns.reduce((a, c) => a + columnWidth(c), 0);
}
