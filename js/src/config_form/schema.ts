// Controls of the ModelConfigForm, built from the engine's schema description
// (qwidgets.protocol.params.describe_all). Pure: a field added to the schema becomes a control here
// with no change to this file, as long as its kind is one of the kinds below (an unknown kind
// still gets a JSON text box).

export interface FieldDesc {
  name: string;
  kind: string;
  doc?: string;
  required?: boolean;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusive_minimum?: boolean;
  exclusive_maximum?: boolean;
  nullable?: boolean;
}

export interface ParamSetDesc {
  name: string;
  doc?: string;
  fields: FieldDesc[];
}

export interface ChoiceDesc {
  name: string;
  key: string;
  default?: string | null;
  doc?: string;
  options: Record<string, ParamSetDesc>;
}

export type Schema = Record<string, ParamSetDesc | ChoiceDesc | Record<string, ParamSetDesc>>;

export type Widget = "int" | "float" | "bool" | "text" | "labels" | "number_or_map" | "map" | "json";

export interface Control {
  key: string; // the Python side's error key: "model.qbits", "batch_size", "state_kwargs.tol"
  path: string[]; // where the value lives in the form's value dict
  field: FieldDesc;
  widget: Widget;
  value: unknown; // undefined when absent (the kernel fills the default)
}

export interface Picker {
  key: string;
  path: string[];
  label: string;
  options: { value: string; doc: string }[];
  selected: string;
}

export interface Section {
  id: string; // the schema's top-level name: models, training, weight_optimization, state
  title: string;
  doc: string;
  kind: "models" | "params" | "choice";
  picker: Picker | null;
  controls: Control[];
}

// The model payload sits under "model" and names its family in "model_name" (the wire's shape).
export const MODEL_PATH = "model";
export const FAMILY_KEY = "model_name";

const TITLES: Record<string, string> = {
  models: "Model",
  training: "Training",
  weight_optimization: "Weight optimizer",
  state: "State solver",
};

const WIDGETS: Record<string, Widget> = {
  int: "int",
  float: "float",
  bool: "bool",
  str: "text",
  labels: "labels",
  float_or_map: "number_or_map",
  map: "map",
};

export function widgetOf(field: FieldDesc): Widget {
  return WIDGETS[field.kind] ?? "json";
}

export function isChoice(desc: unknown): desc is ChoiceDesc {
  return !!desc && typeof desc === "object" && "options" in desc && "key" in desc;
}

export function isParamSet(desc: unknown): desc is ParamSetDesc {
  return !!desc && typeof desc === "object" && Array.isArray((desc as ParamSetDesc).fields);
}

function asObject(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

export function humanize(name: string): string {
  const text = name.replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function controlsOf(fields: FieldDesc[], base: string[], payload: Record<string, unknown>,
                    skip: string | null = null): Control[] {
  return fields.filter((f) => f.name !== skip).map((f) => ({
    key: [...base, f.name].join("."),
    path: [...base, f.name],
    field: f,
    widget: widgetOf(f),
    value: payload[f.name],
  }));
}

function joinDocs(...docs: (string | undefined)[]): string {
  return docs.filter((d) => d && d.trim()).join(" ");
}

/** One section per top-level entry of the schema, in its order. */
export function buildSections(schema: Schema, value: unknown): Section[] {
  const v = asObject(value);
  const sections: Section[] = [];
  for (const [id, desc] of Object.entries(schema ?? {})) {
    const title = TITLES[id] ?? humanize(id);
    if (isChoice(desc)) {
      const payload = asObject(v[desc.name]);
      const names = Object.keys(desc.options);
      const given = payload[desc.key];
      const selected = typeof given === "string" ? given : (desc.default ?? names[0] ?? "");
      const option = desc.options[selected];
      sections.push({
        id, title, kind: "choice", doc: joinDocs(desc.doc, option?.doc),
        picker: {
          key: `${desc.name}.${desc.key}`, path: [desc.name, desc.key], label: desc.key,
          options: names.map((n) => ({ value: n, doc: desc.options[n].doc ?? "" })), selected,
        },
        controls: option ? controlsOf(option.fields, [desc.name], payload) : [],
      });
    } else if (isParamSet(desc)) {
      sections.push({ id, title, kind: "params", doc: desc.doc ?? "", picker: null,
                      controls: controlsOf(desc.fields, [], v) });
    } else {
      // A family of parameter sets chosen by the model payload's own "model_name".
      const families = desc as Record<string, ParamSetDesc>;
      const payload = asObject(v[MODEL_PATH]);
      const names = Object.keys(families);
      const given = payload[FAMILY_KEY];
      const selected = typeof given === "string" ? given : (names[0] ?? "");
      const family = families[selected];
      sections.push({
        id, title, kind: "models", doc: family?.doc ?? "",
        picker: {
          key: `${MODEL_PATH}.${FAMILY_KEY}`, path: [MODEL_PATH, FAMILY_KEY], label: FAMILY_KEY,
          options: names.map((n) => ({ value: n, doc: families[n].doc ?? "" })), selected,
        },
        controls: family ? controlsOf(family.fields, [MODEL_PATH], payload, FAMILY_KEY) : [],
      });
    }
  }
  return sections;
}

/** What decides the DOM's structure: when it is unchanged, values update in place (so the
 * element being typed in keeps its focus and text). */
export function shapeOf(sections: Section[], columns: string[]): string {
  return JSON.stringify([
    columns,
    sections.map((s) => [s.id, s.picker?.selected ?? null, s.controls.map((c) => [c.key, c.widget])]),
  ]);
}

/** The control keys in display order (pickers first in each section): to match errors. */
export function controlKeys(sections: Section[]): string[] {
  return sections.flatMap((s) => [...(s.picker ? [s.picker.key] : []), ...s.controls.map((c) => c.key)]);
}
