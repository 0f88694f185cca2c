// Buttons that ask the kernel for something (Refresh, Cancel, Stop, Train...): one request at a
// time per view, so the view keeps its buttons disabled while `pending` is set, and a failure
// stays in `error` for the view to show until the next request.
import type { RequestKind } from "./kinds";
import { type Channel, Requester, errorText } from "./request";

export interface ButtonRequest {
  // read at click time: a toggle sends the state it switches to
  fields?: () => Record<string, unknown>;
  // a newer request of the kind cancels the older one in the kernel
  supersede?: boolean;
  // what the error message calls the action; the kind by default
  label?: string;
}

export class RequestButtons {
  pending: RequestKind | null = null;
  error = "";
  private readonly requester: Requester;
  private readonly unbind: (() => void)[] = [];

  constructor(model: Channel, timeoutMs: number, private readonly redraw: () => void) {
    this.requester = new Requester(model, timeoutMs);
  }

  get busy(): boolean {
    return this.pending !== null;
  }

  bind(button: HTMLButtonElement, kind: RequestKind, how: ButtonRequest = {}): void {
    const click = () => {
      if (!button.disabled) void this.run(kind, how);
    };
    button.addEventListener("click", click);
    this.unbind.push(() => button.removeEventListener("click", click));
  }

  async run(kind: RequestKind, how: ButtonRequest = {}): Promise<void> {
    if (this.pending !== null) return;
    this.pending = kind;
    this.error = "";
    this.redraw();
    try {
      await this.requester.request(kind, how.fields?.() ?? {}, { supersede: how.supersede });
    } catch (err) {
      this.error = `${how.label ?? kind} failed: ${errorText(err)}`;
    } finally {
      this.pending = null;
      this.redraw();
    }
  }

  dispose(): void {
    for (const off of this.unbind) off();
    this.requester.dispose();
  }
}
