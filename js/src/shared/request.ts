// Requests to the kernel: {id, kind, ...fields} custom messages, answered by
// {id, kind: "reply", ok, result | error}. Every request has a timeout, and a newer request
// of the same kind may supersede an older one (the older is cancelled in the kernel).
import type { AnyModel } from "@anywidget/types";
import { CONTROL, type RequestKind } from "./kinds";

// Traits every widget has (qwidgets/widgets/base.py): the view was rendered with no kernel.
export type BaseTraits = { _offline: boolean };

// What a Requester needs of a model: anywidget's model has it, whatever its traits.
export type Channel = Pick<AnyModel, "send" | "on" | "off">;

// The result is what the kernel's handler returned: trusted to have the shape the caller names,
// as any data read off the wire.
export interface Reply<T = unknown> {
  result: T;
  buffers: DataView[];
}

export class RequestError extends Error {}

interface Pending {
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface ReplyMessage {
  kind: string;
  id: string;
  ok?: boolean;
  result?: unknown;
  error?: unknown;
}

function isReply(msg: unknown): msg is ReplyMessage {
  if (!msg || typeof msg !== "object") return false;
  const m = msg as Record<string, unknown>;
  return m.kind === CONTROL.reply && typeof m.id === "string";
}

let counter = 0;

export class Requester {
  private pending = new Map<string, Pending>();
  private latest = new Map<string, string>();
  private readonly onMsg: (msg: unknown, buffers?: DataView[]) => void;

  constructor(private model: Channel, private timeoutMs = 10_000) {
    this.onMsg = (msg, buffers) => this.receive(msg, buffers ?? []);
    model.on("msg:custom", this.onMsg);
  }

  request<T = unknown>(kind: RequestKind, fields: Record<string, unknown> = {}, opts: { supersede?: boolean } = {}): Promise<Reply<T>> {
    const id = `${kind}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
    if (opts.supersede) {
      const older = this.latest.get(kind);
      if (older) this.abandon(older, "superseded");
      this.latest.set(kind, id);
    }
    return new Promise<Reply<T>>((resolve, reject) => {
      const timer = setTimeout(() => this.abandon(id, `no answer from the kernel within ${this.timeoutMs / 1000} s (is it busy or stopped?)`), this.timeoutMs);
      this.pending.set(id, { resolve: (r) => resolve(r as Reply<T>), reject, timer });
      this.model.send({ id, kind, ...fields });
    });
  }

  private abandon(id: string, why: string): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    this.model.send({ id: `cancel-${id}`, kind: CONTROL.cancel, target: id });
    entry.reject(new RequestError(why));
  }

  receive(msg: unknown, buffers: DataView[]): boolean {
    if (!isReply(msg)) return false;
    const entry = this.pending.get(msg.id);
    if (!entry) return true; // late answer to an abandoned request
    clearTimeout(entry.timer);
    this.pending.delete(msg.id);
    if (msg.ok) entry.resolve({ result: msg.result, buffers });
    else entry.reject(new RequestError(String(msg.error ?? "request failed")));
    return true;
  }

  dispose(): void {
    this.model.off("msg:custom", this.onMsg);
    for (const id of [...this.pending.keys()]) this.abandon(id, "closed");
  }
}

// An error's text for a message shown next to the button that caused it.
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
