// Redraws on trait changes. One listener per trait (not every model implementation emits a
// bare "change" or splits space-separated names), coalesced so that an update of ten traits
// redraws once, after the last of them is set.
import type { AnyModel } from "@anywidget/types";

type Traits = Record<string, unknown>;

export function coalesce(fn: () => void): () => void {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      fn();
    });
  };
}

// Calls `redraw` (coalesced) when any of `names` changes; returns the unsubscribe.
export function watch<T extends Traits>(model: AnyModel<T>, names: readonly (keyof T & string)[], redraw: () => void): () => void {
  const cb = coalesce(redraw);
  for (const name of names) model.on(`change:${name}`, cb);
  return () => {
    for (const name of names) model.off(`change:${name}`, cb);
  };
}
