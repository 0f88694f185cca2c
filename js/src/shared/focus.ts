// A panel's output is rendered anew when its static form is rewritten (update_display at a
// final state, e.g. the end of a sweep): the old view's DOM goes, and the keyboard's focus with
// it, out of the notebook. Each view notes which of its controls holds the focus (by its
// aria-label, unique within a view); a new view of the same model gives the focus back to that
// control, unless the user has put it somewhere else meanwhile.

// The focused control's aria-label, by the widget's own key, not by the model object: anywidget
// hands each view a proxy of its own.
const marks = new Map<string, string>();
const roots = new Map<string, Set<HTMLElement>>();
const RETRY_MS = 50;
const RETRIES = 40; // the new view may reach the page a little after it renders

function label(target: EventTarget | null): string | null {
  return target instanceof HTMLElement ? target.getAttribute("aria-label") : null;
}

function control(root: HTMLElement, name: string): HTMLElement | undefined {
  return [...root.querySelectorAll<HTMLElement>("[aria-label]")].find((el) => el.getAttribute("aria-label") === name);
}

function ours(model: string, node: Element | null): boolean {
  for (const root of roots.get(model) ?? []) if (node && root.contains(node)) return true;
  return false;
}

// Starts noting the focus within `root` and, if the last view of the widget named `model` (a
// synced key unique to the widget) held it, puts it back on the same control here; returns the
// teardown.
export function carryFocus(model: string, root: HTMLElement): () => void {
  const views = roots.get(model) ?? new Set<HTMLElement>();
  roots.set(model, views);
  views.add(root);
  const onIn = (e: FocusEvent) => {
    const name = label(e.target);
    if (name) marks.set(model, name);
  };
  const onOut = (e: FocusEvent) => {
    // focus moved to something else on the page: the user went on, nothing to give back
    const next = e.relatedTarget;
    if (next instanceof Node && !ours(model, next as Element)) marks.delete(model);
  };
  root.addEventListener("focusin", onIn);
  root.addEventListener("focusout", onOut);
  let tries = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const restore = () => {
    timer = undefined;
    const mark = marks.get(model);
    if (!mark) return;
    const active = document.activeElement;
    const free = !active || active === document.body || (ours(model, active) && !root.contains(active));
    if (root.isConnected && free) {
      const target = control(root, mark);
      if (target) {
        target.focus({ preventScroll: true });
        if (document.activeElement === target) return;
      }
    } else if (root.isConnected && active && root.contains(active)) {
      return; // already here
    }
    if (++tries < RETRIES) timer = setTimeout(restore, RETRY_MS);
  };
  timer = setTimeout(restore, 0);
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    root.removeEventListener("focusin", onIn);
    root.removeEventListener("focusout", onOut);
    views.delete(root);
    if (!views.size && !marks.has(model)) roots.delete(model);
  };
}

// Runs `rebuild` (which replaces controls inside `root`) and, if a control of `root` held the
// focus, gives it to the new control of the same aria-label.
export function keepFocusAcross(root: HTMLElement, rebuild: () => void): void {
  const active = document.activeElement;
  const name = active instanceof HTMLElement && root.contains(active) ? active.getAttribute("aria-label") : null;
  rebuild();
  if (!name || (document.activeElement && root.contains(document.activeElement))) return;
  control(root, name)?.focus({ preventScroll: true });
}
