// Renders exported panels with no kernel and no network: each panel's widget module comes
// inlined in the page, and its state is handed to a model object with the same interface the
// widget gets in JupyterLab (get/set/on/off/save_changes/send). Requests to a kernel go
// nowhere; the widgets know from `_offline` to serve what the state carries.

type Listener = (...args: unknown[]) => void;
type State = Record<string, unknown>;

export class OfflineModel {
  private listeners = new Map<string, Set<Listener>>();
  constructor(private state: State) {}
  get(name: string): unknown { return this.state[name]; }
  set(name: string, value: unknown): void {
    const old = this.state[name];
    this.state[name] = value;
    if (old !== value) this.emit(`change:${name}`, value);
  }
  save_changes(): void { this.emit("change", this.state); }
  send(_content: unknown, _callbacks?: unknown, _buffers?: unknown): void { /* no kernel in an exported page */ }
  on(event: string, cb: Listener): void {
    for (const e of event.split(/\s+/)) {
      if (!this.listeners.has(e)) this.listeners.set(e, new Set());
      this.listeners.get(e)!.add(cb);
    }
  }
  off(event?: string, cb?: Listener): void {
    if (!event) { this.listeners.clear(); return; }
    for (const e of event.split(/\s+/)) {
      if (!cb) this.listeners.delete(e); else this.listeners.get(e)?.delete(cb);
    }
  }
  private emit(event: string, ...args: unknown[]): void {
    for (const cb of this.listeners.get(event) ?? []) cb(...args);
  }
}

// Binary traits travel as {"$qw_b64": "..."}: back to the DataView a widget gets in JupyterLab.
export function revive(value: unknown): unknown {
  if (value && typeof value === "object") {
    const b64 = (value as { $qw_b64?: unknown }).$qw_b64;
    if (typeof b64 === "string") {
      const bin = atob(b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new DataView(bytes.buffer);
    }
    if (Array.isArray(value)) return value.map(revive);
    const out: State = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v);
    return out;
  }
  return value;
}

// What the page calls of a widget module: anywidget's contract, with the offline model.
interface Widget {
  initialize?: (props: { model: OfflineModel }) => unknown;
  render: (props: { model: OfflineModel; el: HTMLElement }) => unknown;
}

function isWidget(v: unknown): v is Widget {
  return !!v && typeof v === "object" && typeof (v as { render?: unknown }).render === "function";
}

// A module's default export is the widget, or a function that makes it (anywidget allows both).
async function loadWidget(code: string): Promise<Widget> {
  // A data: URL needs no origin (the page may be opened from file://) and no network.
  const url = "data:text/javascript;base64," + btoa(unescape(encodeURIComponent(code)));
  const mod: unknown = await import(/* @vite-ignore */ url);
  let widget: unknown = (mod as { default?: unknown }).default ?? mod;
  if (typeof widget === "function") widget = await (widget as () => unknown)();
  if (!isWidget(widget)) throw new Error("the panel's module exports no widget with a render()");
  return widget;
}

export async function renderPanels(root: Document = document): Promise<void> {
  const modules = new Map<string, Promise<Widget>>();
  for (const el of Array.from(root.querySelectorAll<HTMLElement>("[data-qw-panel]"))) {
    const name = el.dataset.qwModule!;
    const code = root.getElementById(`qw-esm-${name}`)?.textContent ?? "";
    const stateText = root.getElementById(`qw-state-${el.dataset.qwPanel}`)?.textContent ?? "{}";
    if (!modules.has(name)) modules.set(name, loadWidget(code));
    try {
      const widget = await modules.get(name)!;
      const model = new OfflineModel(revive(JSON.parse(stateText)) as State);
      await widget.initialize?.({ model });
      el.replaceChildren();
      await widget.render({ model, el });
      el.dataset.qwRendered = "true";
    } catch (err) {
      el.dataset.qwRendered = "error";
      const note = document.createElement("p");
      note.className = "qw-export-error";
      note.textContent = `This panel could not be rendered: ${err}`;
      el.prepend(note);
      console.error(err);
    }
  }
}

renderPanels();
