// DOM helpers. Values are only ever set as text (textContent), never as HTML, so data such as
// `<img src=x onerror=alert(1)>` shows as the characters it is.

type Attrs = Record<string, string | number | boolean | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, attrs: Attrs = {}, ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

export function setText(el: Element, value: unknown): void {
  const s = value === null || value === undefined ? "" : String(value);
  if (el.textContent !== s) el.textContent = s;
}

const injected = new WeakSet<Node>();

// One <style> per document (or shadow root); class names are prefixed `qw-` so they cannot
// collide with JupyterLab's or another extension's.
export function injectStyle(el: HTMLElement, id: string, css: string): void {
  const root = el.getRootNode() as Document | ShadowRoot;
  const host: ShadowRoot | HTMLHeadElement = root instanceof ShadowRoot ? root : document.head;
  const key = `qw-style-${id}`;
  if (host.querySelector(`style[data-qw="${key}"]`)) return;
  if (injected.has(host) && id === "") return;
  const style = document.createElement("style");
  style.dataset.qw = key;
  style.textContent = css;
  host.appendChild(style);
}
