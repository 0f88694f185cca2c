// Colours and fonts come from JupyterLab's CSS variables, so light and dark themes both work;
// the fallbacks apply outside JupyterLab (an exported page, VS Code).
// Each at least 5:1 under white text (WCAG AA asks 4.5:1), in every theme.
export const BADGE = {
  ok: "#2e7d32", error: "#c62828", busy: "#1565c0", warn: "#bf360c", off: "#616161", other: "#455a64",
} as const;

export const BASE_CSS = `
.qw-root { font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #212121); background: var(--jp-layout-color1, #fff); padding: 6px; box-sizing: border-box; }
.qw-root *, .qw-root *::before, .qw-root *::after { box-sizing: border-box; }
.qw-root button { font: inherit; color: var(--jp-ui-font-color1, #212121); background: var(--jp-layout-color2, #eee);
  border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 3px; padding: 2px 10px; cursor: pointer; }
.qw-root button.qw-primary { background: var(--jp-brand-color1, #1976d2); color: var(--jp-ui-inverse-font-color1, #fff); border-color: transparent; }
.qw-root button:disabled { opacity: .5; cursor: default; }
.qw-root button:focus-visible, .qw-root input:focus-visible, .qw-root select:focus-visible { outline: 2px solid var(--jp-brand-color1, #1976d2); outline-offset: 1px; }
.qw-root input, .qw-root select, .qw-root textarea { font: inherit; color: var(--jp-ui-font-color1, #212121);
  background: var(--jp-layout-color1, #fff); border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 2px; padding: 1px 4px; }
.qw-root .qw-head { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; }
.qw-root .qw-grow { flex: 1; }
.qw-muted { color: var(--jp-ui-font-color2, #616161); }
.qw-error { color: var(--jp-error-color1, #d32f2f); }
.qw-badge { display: inline-block; padding: 0 8px; border-radius: 9px; font-size: var(--jp-ui-font-size0, 11px);
  background: var(--jp-layout-color3, #bdbdbd); color: var(--jp-ui-font-color0, #000); }
/* Fixed badge colours, not the theme's: JupyterLab's success/warn colours under white text fall
   below WCAG AA's 4.5:1 (4.12:1 light, 2.78:1 dark), and a badge carries its own background. */
.qw-badge[data-state="completed"], .qw-badge[data-state="Done"] { background: ${BADGE.ok}; color: #fff; }
.qw-badge[data-state="failed"], .qw-badge[data-state="Error"], .qw-badge[data-state="disconnected"] { background: ${BADGE.error}; color: #fff; }
.qw-badge[data-state="processing"], .qw-badge[data-state="Running"], .qw-badge[data-state="running"] { background: ${BADGE.busy}; color: #fff; }
.qw-badge[data-state^="cancel"], .qw-badge[data-state="Stopped"] { background: ${BADGE.warn}; color: #fff; }
`;

// On every widget's root, and on whatever takes focus inside it: a key typed into a control
// stays with the control ("d d" on a focused button deletes no cell, "b" on a checkbox inserts
// none, ArrowDown on a select moves the value, not the notebook). Lumino (JupyterLab, Notebook
// 7) walks from the focused element up to the document looking for a binding's selector and
// stops at an element with this attribute; the focused element itself is tested first, so the
// attribute must be on it, not only on the root.
export const ROOT_ATTRS = { "data-lm-suppress-shortcuts": "true" } as const;

export function keepKeys(root: HTMLElement): void {
  root.addEventListener("focusin", (e) => {
    const target = e.target;
    if (target instanceof Element && !target.hasAttribute("data-lm-suppress-shortcuts")) {
      target.setAttribute("data-lm-suppress-shortcuts", "true");
    }
  });
}

// Calls `changed` when JupyterLab switches theme. What a canvas drew keeps the colours it
// read at the time, so it must draw again. Lab loads the new theme's stylesheet and then
// flips `data-jp-theme-*` on <body>; a stylesheet may still be applying when the attribute
// changes, so the call is repeated once things settle. Returns the unsubscribe.
export function onThemeChange(changed: () => void): () => void {
  if (typeof MutationObserver === "undefined" || typeof document === "undefined") return () => {};
  const timers: ReturnType<typeof setTimeout>[] = [];
  const fire = () => {
    changed();
    for (const t of timers.splice(0)) clearTimeout(t);
    for (const ms of [50, 300, 1000]) timers.push(setTimeout(changed, ms));
  };
  const observer = new MutationObserver(fire);
  observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  observer.observe(document.head, { childList: true });
  return () => {
    observer.disconnect();
    for (const t of timers) clearTimeout(t);
  };
}
