// Shapes shared by the grid's pieces; they mirror what qwidgets/widgets/frame_view.py sends.

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
