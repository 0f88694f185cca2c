// Shapes shared by the grid's pieces; they mirror what qwidgets/widgets/frame_view.py sends.
import type { BaseTraits } from "../shared/request";
import type { OfflineRows } from "./local";

export type Kind = "float" | "int" | "uint" | "bool" | "text" | "datetime";
export type Role = "" | "pred" | "actual" | "error";

export interface ColumnMeta {
  name: string;
  kind: Kind;
  dtype: string;
  role: Role;
  pair: string;
}

// A cell as the browser holds it: numbers (NaN where missing), exact big integers as text,
// strings, or null for missing text.
export type Cell = number | string | null;

export interface FilterSpec {
  min?: number;
  max?: number;
  contains?: string;
}

export type Filters = Record<string, FilterSpec>;

export interface ViewState {
  sortBy: string | null;
  descending: boolean;
  filters: Filters;
}

// Rows offset .. offset + count of a view of `total` rows.
export interface WindowData {
  offset: number;
  count: number;
  total: number;
  index: Cell[];
  columns: Record<string, Cell[]>;
  scales: Record<string, number>;
}

export interface Page {
  index: Cell[];
  columns: Record<string, Cell[]>;
}

export type Summary = Record<string, number | string | null>;

// The traits of qwidgets/widgets/grid.py the view reads and writes.
export type GridTraits = BaseTraits & {
  sort_by: string | null;
  descending: boolean;
  filters: Filters;
  height: number;
  _columns: ColumnMeta[];
  _index: { name?: string | null; kind?: string };
  _rows: number;
  _page_rows: number;
  _version: number;
  // _offline_payload(): the first rows of the view, or {} when there is a kernel
  _offline_rows: OfflineRows | Record<string, never>;
};
