// ModelConfigForm: controls generated from the synced schema description; every edit goes to
// the kernel as the `value` trait, the kernel validates with the engine's validators and
// answers with `errors` ({control key: message}) shown next to each control. Renders from
// the synced state alone, so a saved notebook (no kernel, `_offline`) shows the parameters.

import { h, injectStyle, setText } from "../shared/dom";
import type { AnyWidget, RenderProps } from "@anywidget/types";
import { REQUEST } from "../shared/kinds";
import type { BaseTraits } from "../shared/request";
import { RequestButtons } from "../shared/request_buttons";
import { BASE_CSS, ROOT_ATTRS, keepKeys } from "../shared/theme";
import { watch } from "../shared/watch";
import {
  type Control, type Picker, type Schema, type Section, buildSections, controlKeys, isChoice, shapeOf,
} from "../config_form/schema";
import { formatValue, localError, parseInput, stepInt } from "../config_form/parse";
import { getAt, setAt, switchFamily, switchOption, toggleLabel } from "../config_form/values";

const CSS = `
.qw-cf { max-width: 780px; }
.qw-cf fieldset.qw-cf-section { border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 4px; margin: 0 0 6px; padding: 2px 8px 6px; }
.qw-cf legend.qw-cf-title { font-weight: 600; padding: 0 4px; }
.qw-cf-row { display: grid; grid-template-columns: 12em minmax(0, 1fr); gap: 2px 8px; align-items: start; padding: 2px 0; }
.qw-cf-name { font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px); padding-top: 3px; overflow-wrap: anywhere; }
.qw-cf-doc { font-size: var(--jp-ui-font-size0, 11px); margin: 1px 0 0; }
.qw-cf-msg { font-size: var(--jp-ui-font-size0, 11px); margin: 1px 0 0; }
.qw-cf-msg:empty, .qw-cf-doc:empty { display: none; }
.qw-cf input[type="text"] { width: 16em; max-width: 100%; }
.qw-cf [aria-invalid="true"] { border-color: var(--jp-error-color1, #d32f2f) !important; }
.qw-cf fieldset.qw-cf-labels { display: flex; flex-wrap: wrap; gap: 2px 12px; max-height: 9em; overflow: auto;
  margin: 0; padding: 2px 4px; border: 1px solid transparent; border-radius: 2px; }
.qw-cf fieldset.qw-cf-labels > legend { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.qw-cf-labels label { white-space: nowrap; }
.qw-cf-actions { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin: 4px 0; }
.qw-cf-status { flex: 1 1 20em; }
.qw-cf-guid { font-family: var(--jp-code-font-family, monospace); }
.qw-cf details.qw-cf-code > summary { cursor: pointer; }
.qw-cf pre.qw-cf-source { max-height: 22em; overflow: auto; margin: 4px 0; padding: 6px 8px; white-space: pre;
  background: var(--jp-layout-color2, #f5f5f5); font-family: var(--jp-code-font-family, monospace);
  font-size: var(--jp-code-font-size, 12px); user-select: text; }
`;

// The traits of qwidgets/widgets/config_form.py this view reads and writes.
type Traits = BaseTraits & {
  schema: Schema;
  columns: string[];
  value: Record<string, unknown>;
  errors: Record<string, string>;
  status: string;
  error: string;
  busy: boolean;
  model_guid: string | null;
  _code: string;
};

interface Bound {
  control: Control;
  input: HTMLInputElement | null; // text box or checkbox; null for a column group
  group: HTMLFieldSetElement | null;
  boxes: Map<string, HTMLInputElement>;
  message: HTMLElement;
}

let instances = 0;

// What the status line says once the training's outcome is known (ModelConfigForm.training_ended).
const ENDED = new Map<string, string>([
  ["completed", "Training completed."],
  ["cancelled", "Training cancelled."],
  ["disconnected", "Training lost: the server stopped answering."],
]);

// Train had focus when last pressed, per model: JupyterLab may render a new view of the same
// model (a display replaced with the final state), and focus should land on its Train too.
const focusTrain = new WeakMap<object, boolean>();

function render({ model, el }: RenderProps<Traits>): () => void {
  injectStyle(el, "base", BASE_CSS);
  injectStyle(el, "config-form", CSS);
  const uid = `qw-cf-${instances++}`;
  let serial = 0;
  const nextId = (what: string) => `${uid}-${what}-${serial++}`;
  const requests = new RequestButtons(model, 15_000, () => showStatus());

  const sectionsBox = h("div", { class: "qw-cf-sections" });
  const formErrors = h("div", { class: "qw-error qw-cf-form-errors", role: "alert" });
  const train = h("button", { type: "button", class: "qw-primary qw-cf-train",
                              "aria-label": "Train a model with these parameters" }, "Train");
  const statusEl = h("div", { class: "qw-cf-status", role: "status", "aria-live": "polite" });
  const source = h("pre", { class: "qw-cf-source", tabindex: 0, "aria-label": "Python code equivalent to Train" });
  const copyButton = h("button", { type: "button", class: "qw-cf-copy", "aria-label": "Copy the Python code" }, "Copy");
  const copyNote = h("span", { class: "qw-muted qw-cf-copy-note", role: "status", "aria-live": "polite" });
  const codePanel = h("details", { class: "qw-cf-code" },
    h("summary", {}, "Copy as code"),
    h("div", { class: "qw-cf-actions" }, copyButton, copyNote),
    source);
  const root = h("div", { class: "qw-root qw-cf", ...ROOT_ATTRS, role: "form", "aria-label": "Model configuration" },
    sectionsBox, formErrors, h("div", { class: "qw-cf-actions" }, train, statusEl), codePanel);
  keepKeys(root);
  el.replaceChildren(root);

  const local = new Map<string, string>(); // instant messages of the cheap checks, by key
  let bound = new Map<string, Bound>();
  let pickers = new Map<string, { picker: Picker; select: HTMLSelectElement; message: HTMLElement }>();
  let shape = "";
  let notice = ""; // why Train did not even ask the kernel
  let stepTimer: ReturnType<typeof setTimeout> | undefined;
  let pressedWhileFocused = focusTrain.get(model) ?? false;

  const offline = () => !!model.get("_offline");
  const schema = (): Schema => model.get("schema") ?? {};
  const columns = (): string[] => model.get("columns") ?? [];
  const value = (): Record<string, unknown> => model.get("value") ?? {};
  const errors = (): Record<string, string> => model.get("errors") ?? {};

  function commit(next: Record<string, unknown>): void {
    notice = "";
    requests.error = "";
    model.set("value", next);
    model.save_changes();
  }

  function focused(node: Element): boolean {
    return (node.getRootNode() as Document | ShadowRoot).activeElement === node;
  }

  // ------------------------------------------------------------ building

  function row(label: HTMLElement, ...right: (Node | null)[]): HTMLElement {
    return h("div", { class: "qw-cf-row" }, label, h("div", {}, ...right));
  }

  function buildPicker(section: Section, picker: Picker): HTMLElement {
    const id = nextId("pick");
    const message = h("div", { class: "qw-error qw-cf-msg", id: nextId("msg") });
    const select = h("select", { id, "data-key": picker.key, "aria-describedby": message.id });
    for (const o of picker.options) {
      select.append(h("option", { value: o.value, title: o.doc, selected: o.value === picker.selected }, o.value));
    }
    select.value = picker.selected;
    select.disabled = offline();
    select.addEventListener("change", () => {
      const desc = schema()[section.id];
      commit(isChoice(desc) ? switchOption(desc, value(), select.value)
        : switchFamily(schema(), value(), select.value));
    });
    pickers.set(picker.key, { picker, select, message });
    return row(h("label", { class: "qw-cf-name", for: id }, picker.label), select, message);
  }

  function describedBy(message: HTMLElement, doc: HTMLElement): string {
    return `${message.id} ${doc.id}`;
  }

  function buildControl(control: Control): HTMLElement {
    const { field, key } = control;
    const message = h("div", { class: "qw-error qw-cf-msg", id: nextId("msg") });
    const doc = h("div", { class: "qw-muted qw-cf-doc", id: nextId("doc") }, field.doc ?? "");
    const b: Bound = { control, input: null, group: null, boxes: new Map(), message };
    bound.set(key, b);
    const name = `${field.name}${field.required ? " *" : ""}`;
    const cols = columns();

    if (control.widget === "labels" && cols.length) {
      const legendId = nextId("legend");
      const group = h("fieldset", { class: "qw-cf-labels", "data-key": key, "aria-labelledby": legendId,
                                    "aria-describedby": describedBy(message, doc) },
        h("legend", {}, field.name));
      for (const c of cols) {
        const box = h("input", { type: "checkbox", "data-key": `${key}:${c}`, disabled: offline() });
        box.addEventListener("change", () => {
          commit(setAt(value(), control.path, toggleLabel(getAt(value(), control.path), c, box.checked, columns())));
        });
        b.boxes.set(c, box);
        group.append(h("label", {}, box, ` ${c}`));
      }
      b.group = group;
      return row(h("span", { class: "qw-cf-name", id: legendId }, name), group, message, doc);
    }

    const id = nextId("in");
    if (control.widget === "bool") {
      const box = h("input", { type: "checkbox", id, "data-key": key, disabled: offline(),
                               "aria-describedby": describedBy(message, doc) });
      box.addEventListener("change", () => commit(setAt(value(), control.path, box.checked)));
      b.input = box;
      return row(h("label", { class: "qw-cf-name", for: id }, name), box, message, doc);
    }

    const numeric = control.widget === "int" || control.widget === "float";
    const shownDefault = field.default !== undefined ? formatValue(control, field.default) : "";
    const placeholder = field.required ? "required"
      : shownDefault ? `default ${shownDefault}`
      : control.widget === "number_or_map" ? "a number, or name=value, …"
      : control.widget === "map" ? "name=value, …" : "";
    const input = h("input", {
      type: "text", id, "data-key": key, placeholder, disabled: offline(), spellcheck: "false",
      inputmode: numeric ? (control.widget === "int" ? "numeric" : "decimal") : undefined,
      "aria-required": field.required ? "true" : undefined,
      "aria-describedby": describedBy(message, doc),
    });
    input.addEventListener("input", () => {
      const msg = localError(control, parseInput(control, input.value));
      if (msg) local.set(key, msg);
      else local.delete(key);
      showErrors();
    });
    input.addEventListener("change", () => {
      local.delete(key);
      commit(setAt(value(), control.path, parseInput(control, input.value)));
    });
    if (control.widget === "int") {
      input.addEventListener("keydown", (e) => {
        if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
        e.preventDefault();
        const next = stepInt(field, parseInput(control, input.value), e.key === "ArrowUp" ? 1 : -1);
        input.value = String(next);
        local.delete(key);
        showErrors();
        // A held arrow key repeats ~30 times a second: send the value it settles on.
        clearTimeout(stepTimer);
        stepTimer = setTimeout(() => commit(setAt(value(), control.path, parseInput(control, input.value))), 250);
      });
    }
    b.input = input;
    return row(h("label", { class: "qw-cf-name", for: id }, name), input, message, doc);
  }

  function rebuild(sections: Section[]): void {
    const active = (el.getRootNode() as Document | ShadowRoot).activeElement as HTMLElement | null;
    const activeKey = active && root.contains(active) ? active.getAttribute("data-key") : null;
    bound = new Map();
    pickers = new Map();
    const nodes = sections.map((s) => {
      const box = h("fieldset", { class: "qw-cf-section", "data-section": s.id },
        h("legend", { class: "qw-cf-title" }, s.title),
        s.doc ? h("div", { class: "qw-muted qw-cf-doc" }, s.doc) : null);
      if (s.picker) box.append(buildPicker(s, s.picker));
      for (const c of s.controls) box.append(buildControl(c));
      return box;
    });
    sectionsBox.replaceChildren(...nodes);
    if (activeKey) {
      const again = sectionsBox.querySelector<HTMLElement>(`[data-key="${CSS_escape(activeKey)}"]`);
      again?.focus();
    }
  }

  // ------------------------------------------------------------ updating

  function showValues(sections: Section[]): void {
    for (const s of sections) {
      for (const c of s.controls) {
        const b = bound.get(c.key);
        if (!b) continue;
        if (b.group) {
          const chosen = new Set(Array.isArray(c.value) ? c.value.map(String) : []);
          for (const [col, box] of b.boxes) box.checked = chosen.has(col);
        } else if (b.input && b.input.type === "checkbox") {
          b.input.checked = c.value === undefined ? c.field.default === true : c.value === true;
        } else if (b.input && !focused(b.input)) {
          const text = formatValue(c, c.value);
          if (b.input.value !== text) b.input.value = text;
        }
      }
      if (s.picker) {
        const p = pickers.get(s.picker.key);
        if (p && p.select.value !== s.picker.selected) p.select.value = s.picker.selected;
      }
    }
  }

  function mark(target: Element, message: HTMLElement, text: string | undefined): void {
    setText(message, text ?? "");
    if (text) target.setAttribute("aria-invalid", "true");
    else target.removeAttribute("aria-invalid");
  }

  function showErrors(): void {
    const errs = errors();
    const keys = new Set<string>();
    for (const [key, b] of bound) {
      keys.add(key);
      const target = b.group ?? b.input;
      if (target) mark(target, b.message, local.get(key) ?? errs[key]);
    }
    for (const [key, p] of pickers) {
      keys.add(key);
      mark(p.select, p.message, errs[key]);
    }
    // Problems that belong to no control on screen (an unknown key set from Python).
    const rest = Object.entries(errs).filter(([k]) => !keys.has(k)).map(([, m]) => m);
    setText(formErrors, rest.join("\n"));
    showStatus(); // Train's state follows the fields in red
  }

  // Fields marked in red, by the kernel or by the instant checks of what is being typed.
  function invalidCount(): number {
    return new Set([...Object.keys(errors()), ...local.keys()]).size;
  }

  function showStatus(): void {
    const busy = !!model.get("busy") || requests.busy;
    const requestError = notice || requests.error;
    const invalid = invalidCount();
    const hadFocus = focused(train);
    // Train stays pressable only when pressing it can start a training: never with a field in
    // red (the status line says which way out), never twice at once.
    train.disabled = busy || offline() || invalid > 0;
    train.setAttribute("aria-busy", busy ? "true" : "false");
    if (hadFocus && train.disabled) pressedWhileFocused = true;
    if (pressedWhileFocused && !train.disabled) {
      pressedWhileFocused = false;
      const active = (root.getRootNode() as Document | ShadowRoot).activeElement;
      // Focus comes back to Train unless the user has moved it somewhere else meanwhile.
      if (!active || active === document.body || active === train) train.focus();
    }
    focusTrain.set(model, pressedWhileFocused);
    const guid: string | null = model.get("model_guid") ?? null;
    const status: string = model.get("status") ?? "";
    const parts: (Node | string)[] = [];
    // Whether the model id shown belongs to what the status line says, or to an earlier run.
    let current = false;
    if (offline()) {
      parts.push("Saved form: the parameters as they were. Train needs a running kernel.");
      current = true;
    } else if (busy) {
      parts.push("Submitting the training…");
    } else if (invalid > 0) {
      parts.push(h("span", { class: "qw-error" },
        `Train is off: fix the ${invalid === 1 ? "field" : `${invalid} fields`} marked in red first.`));
    } else if (requestError) {
      parts.push(h("span", { class: "qw-error" }, requestError));
    } else if (status === "failed") {
      parts.push(h("span", { class: "qw-error" }, `Train failed: ${model.get("error") ?? ""}`));
    } else if (ENDED.has(status)) {
      parts.push(ENDED.get(status) ?? "");
      current = true;
    } else if (status === "started") {
      parts.push("Training started.");
      current = true;
    } else {
      parts.push(h("span", { class: "qw-muted" }, "Ready."));
    }
    if (guid) {
      parts.push(current ? " Model " : h("span", { class: "qw-muted" }, " Last trained model (earlier parameters) "),
        h("span", { class: "qw-cf-guid" }, guid));
    }
    const extra: string = model.get("error") ?? "";
    if (extra && status !== "failed" && !busy) parts.push(h("span", { class: "qw-error" }, ` ${extra}`));
    statusEl.replaceChildren(...parts);
  }

  function showCode(): void {
    setText(source, model.get("_code") ?? "");
  }

  function update(): void {
    const sections = buildSections(schema(), value());
    const next = shapeOf(sections, columns());
    if (next !== shape) {
      shape = next;
      rebuild(sections);
    }
    showValues(sections);
    showErrors();
    showStatus();
  }

  // ------------------------------------------------------------ actions

  train.addEventListener("click", () => {
    if (offline() || train.disabled) return;
    if (local.size) {
      notice = "Fix the fields marked in red first.";
      showStatus();
      firstInvalid()?.focus();
      return;
    }
    notice = "";
    void requests.run(REQUEST.train, { label: "Train" });
  });

  function firstInvalid(): HTMLElement | null {
    for (const key of controlKeys(buildSections(schema(), value()))) {
      const b = bound.get(key);
      if (b && (local.has(key) || errors()[key])) return (b.input ?? b.boxes.values().next().value ?? null) as HTMLElement | null;
      const p = pickers.get(key);
      if (p && errors()[key]) return p.select;
    }
    return null;
  }

  copyButton.addEventListener("click", async () => {
    const text = model.get("_code") ?? "";
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        setText(copyNote, "Copied.");
        return;
      }
    } catch {
      // fall through: select the text so Ctrl+C copies it
    }
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    source.focus();
    setText(copyNote, "Selected: press Ctrl+C (⌘C on a Mac) to copy.");
  });

  const unwatch = [
    watch(model, ["value", "errors", "schema", "columns", "_offline"], update),
    watch(model, ["status", "error", "busy", "model_guid"], showStatus),
    watch(model, ["_code"], showCode),
  ];
  update();
  showCode();

  return () => {
    clearTimeout(stepTimer);
    for (const off of unwatch) off();
    requests.dispose();
  };
}

function CSS_escape(s: string): string {
  return s.replace(/["\\]/g, "\\$&");
}

export default { render } satisfies AnyWidget<Traits>;
