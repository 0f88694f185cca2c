// Text in the form's inputs <-> values of the form's value dict, and the cheap checks
// (number syntax, bounds) mirrored from qwidgets/protocol/schema.py for instant feedback.
// The kernel validates everything again with the real validators; it is the authority.

import type { Control, FieldDesc } from "./schema";

/** Returned for an empty input: drop the key, so the kernel applies the default. */
export const OMIT: unique symbol = Symbol("omit");
export type Parsed = unknown | typeof OMIT;

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function number(text: string): number | null {
  return NUMBER.test(text) ? Number(text) : null;
}

/** "x=0.5, y: 2" or a JSON object -> {x: 0.5, y: 2}; text that is neither comes back as it
 * is, for the kernel to reject with a message naming the field. */
export function parseMap(text: string): Record<string, unknown> | string {
  const t = text.trim();
  if (t === "") return {};
  if (t.startsWith("{")) {
    try {
      const v = JSON.parse(t);
      return v && typeof v === "object" && !Array.isArray(v) ? v : t;
    } catch {
      return t;
    }
  }
  const out: Record<string, unknown> = {};
  for (const part of t.split(",")) {
    if (!part.trim()) continue;
    const m = /^\s*([^=:]+?)\s*[=:]\s*(.+?)\s*$/.exec(part);
    if (!m) return t;
    const n = number(m[2]);
    out[m[1]] = n === null ? m[2] : n;
  }
  return out;
}

export function parseLabels(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

export function parseInput(control: Pick<Control, "widget">, text: string): Parsed {
  const t = text.trim();
  if (t === "" && control.widget !== "labels" && control.widget !== "map") return OMIT;
  switch (control.widget) {
    case "int":
    case "float": {
      const n = number(t);
      return n === null ? t : n;
    }
    case "text":
      return text;
    case "labels":
      return parseLabels(t);
    case "number_or_map": {
      const n = number(t);
      return n === null ? parseMap(t) : n;
    }
    case "map":
      return parseMap(t);
    default:
      try {
        return JSON.parse(t);
      } catch {
        return t;
      }
  }
}

export function formatValue(control: Pick<Control, "widget">, value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return value;
  if (Array.isArray(value) && control.widget === "labels") return value.map(String).join(", ");
  if (typeof value === "object" && !Array.isArray(value) &&
      (control.widget === "map" || control.widget === "number_or_map")) {
    return Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}=${v}`).join(", ");
  }
  return JSON.stringify(value);
}

/** Python's "%g" (the kernel writes bounds with it), so both sides say the same thing. */
export function formatG(x: number): string {
  if (x === 0) return "0";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  const exp = Math.floor(Math.log10(Math.abs(Number(x.toPrecision(6)))));
  if (exp < -4 || exp >= 6) {
    const [mantissa, e] = x.toExponential(5).split("e");
    const m = mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa;
    const n = Number(e);
    return `${m}e${n < 0 ? "-" : "+"}${String(Math.abs(n)).padStart(2, "0")}`;
  }
  return String(Number(x.toPrecision(6)));
}

/** A bound as it was written: integers in full (the seed's "4294967295", not "4.29497e+09"). */
export function formatBound(x: number): string {
  return Number.isSafeInteger(x) ? String(x) : formatG(x);
}

/** The same words as Field.allowed() in qwidgets/protocol/schema.py. */
export function allowed(field: FieldDesc): string {
  const kind = field.kind === "int" ? "an integer" : "a number";
  const bounds: string[] = [];
  if (typeof field.minimum === "number") bounds.push(`${field.exclusive_minimum ? ">" : ">="} ${formatBound(field.minimum)}`);
  if (typeof field.maximum === "number") bounds.push(`${field.exclusive_maximum ? "<" : "<="} ${formatBound(field.maximum)}`);
  return `must be ${kind}${bounds.length ? " " + bounds.join(" and ") : ""}`;
}

function shown(v: unknown): string {
  return typeof v === "string" ? `'${v}'` : String(v);
}

/** The message the kernel would give for a bad number, or null. Only number syntax and
 * bounds: cross-field rules (pauli_weight <= qbits) are the kernel's. */
export function localError(control: Control, parsed: Parsed): string | null {
  const { field, widget, key } = control;
  if (widget !== "int" && widget !== "float") return null;
  if (parsed === OMIT) {
    return field.required ? `${key}: got None; is required (${allowed(field)})` : null;
  }
  const bad = () => `${key}: got ${shown(parsed)}; ${allowed(field)}`;
  if (typeof parsed !== "number") return bad();
  if (widget === "int" && !Number.isInteger(parsed)) return bad();
  const { minimum: lo, maximum: hi } = field;
  if (typeof lo === "number" && (field.exclusive_minimum ? parsed <= lo : parsed < lo)) return bad();
  if (typeof hi === "number" && (field.exclusive_maximum ? parsed >= hi : parsed > hi)) return bad();
  return null;
}

/** ArrowUp/ArrowDown on an integer box: one step, kept within the bounds. */
export function stepInt(field: FieldDesc, current: Parsed, delta: number): number {
  const base = typeof current === "number" && Number.isFinite(current) ? Math.round(current)
    : typeof field.default === "number" ? field.default : (field.minimum ?? 0);
  let next = base + delta;
  if (typeof field.minimum === "number") {
    const lo = field.exclusive_minimum ? Math.floor(field.minimum) + 1 : Math.ceil(field.minimum);
    next = Math.max(next, lo);
  }
  if (typeof field.maximum === "number") {
    const hi = field.exclusive_maximum ? Math.ceil(field.maximum) - 1 : Math.floor(field.maximum);
    next = Math.min(next, hi);
  }
  return next;
}
