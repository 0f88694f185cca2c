// Edits of the form's value dict, without mutating it (the model holds the previous one).

import { type ChoiceDesc, FAMILY_KEY, MODEL_PATH, type ParamSetDesc, type Schema } from "./schema";
import { OMIT, type Parsed } from "./parse";

type Obj = Record<string, unknown>;

function asObject(v: unknown): Obj {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {};
}

export function getAt(value: unknown, path: string[]): unknown {
  let cur: unknown = value;
  for (const p of path) {
    if (!cur || typeof cur !== "object") return undefined;
    cur = (cur as Obj)[p];
  }
  return cur;
}

/** A copy of ``value`` with ``path`` set (or removed for OMIT); objects on the way are copied. */
export function setAt(value: unknown, path: string[], item: Parsed): Obj {
  const out: Obj = { ...asObject(value) };
  const [head, ...rest] = path;
  if (rest.length === 0) {
    if (item === OMIT) delete out[head];
    else out[head] = item;
    return out;
  }
  out[head] = setAt(out[head], rest, item);
  return out;
}

function keepFields(payload: Obj, fields: { name: string }[]): Obj {
  const names = new Set(fields.map((f) => f.name));
  return Object.fromEntries(Object.entries(payload).filter(([k]) => names.has(k)));
}

/** Another model family: the fields both families share (operators, seed...) are kept, the
 * others dropped, so the kernel fills the new family's defaults. */
export function switchFamily(schema: Schema, value: unknown, family: string): Obj {
  const families = schema.models as Record<string, ParamSetDesc> | undefined;
  const target = families?.[family];
  const model = asObject(asObject(value)[MODEL_PATH]);
  const kept = target ? keepFields(model, target.fields) : {};
  return { ...asObject(value), [MODEL_PATH]: { ...kept, [FAMILY_KEY]: family } };
}

/** Another method of a choice (optimizer, solver): fields of the same name are kept. */
export function switchOption(choice: ChoiceDesc, value: unknown, method: string): Obj {
  const payload = asObject(asObject(value)[choice.name]);
  const option = choice.options[method];
  const kept = option ? keepFields(payload, option.fields) : {};
  return { ...asObject(value), [choice.name]: { [choice.key]: method, ...kept } };
}

/** Tick or untick a column in a list of labels, keeping the DataFrame's column order (names
 * that are not columns stay, at the end, for the kernel to point out). */
export function toggleLabel(current: unknown, label: string, on: boolean, columns: string[]): string[] {
  const chosen = new Set(Array.isArray(current) ? current.map(String) : []);
  if (on) chosen.add(label);
  else chosen.delete(label);
  const inColumns = columns.filter((c) => chosen.has(c));
  const others = [...chosen].filter((c) => !columns.includes(c));
  return [...inColumns, ...others];
}
