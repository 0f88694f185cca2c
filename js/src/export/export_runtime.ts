// Renders exported panels with no kernel and no network: each panel's widget module comes
// inlined in the page, and its state is handed to a model object with the same interface the
// widget gets in JupyterLab (get/set/on/off/save_changes/send). Requests to a kernel go
// nowhere; the widgets know from `_offline` to serve what the state carries.

type Listener = (...args: any[]) => void;

export class OfflineModel {
  private listeners = new Map<string, Set<Listener>>();
  constructor(private state: Record<string, any>) {}
  get(name: string): any { return this.state[name]; }
  set(name: string, value: any): void {
    const old = this.state[name];
    this.state[name] = value;
    if (old !== value) this.emit(`change:${name}`, value);
  }
  save_changes(): void { this.emit("change", this.state); }
  send(_content: any, _callbacks?: any, _buffers?: any): void { /* no kernel in an exported page */ }
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
  private emit(event: string, ...args: any[]): void {
    for (const cb of this.listeners.get(event) ?? []) cb(...args);
  }
}

// Binary traits travel as {"$qw_b64": "..."}: back to the DataView a widget gets in JupyterLab.
export function revive(value: any): any {
  if (value && typeof value === "object") {
    if (typeof value.$qw_b64 === "string") {
      const bin = atob(value.$qw_b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      return new DataView(bytes.buffer);
    }
    if (Array.isArray(value)) return value.map(revive);
    const out: Record<string, any> = {};
    for (const [k, v] of Object.entries(value)) out[k] = revive(v);
    return out;
  }
  return value;
}

async function loadModule(code: string): Promise<any> {
  // A data: URL needs no origin (the page may be opened from file://) and no network.
  const url = "data:text/javascript;base64," + btoa(unescape(encodeURIComponent(code)));
  return import(/* @vite-ignore */ url);
}

export async function renderPanels(root: Document = document): Promise<void> {
  const modules = new Map<string, Promise<any>>();
  for (const el of Array.from(root.querySelectorAll<HTMLElement>("[data-qw-panel]"))) {
    const name = el.dataset.qwModule!;
    const code = root.getElementById(`qw-esm-${name}`)?.textContent ?? "";
    const stateText = root.getElementById(`qw-state-${el.dataset.qwPanel}`)?.textContent ?? "{}";
    if (!modules.has(name)) modules.set(name, loadModule(code));
    try {
      const mod = await modules.get(name)!;
      let widget = mod.default ?? mod;
      if (typeof widget === "function") widget = await widget();
      const model = new OfflineModel(revive(JSON.parse(stateText)));
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
