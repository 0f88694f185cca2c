// Requests to the kernel: {id, kind, ...fields} custom messages, answered by
// {id, kind: "reply", ok, result | error}. Every request has a timeout, and a newer request
// of the same kind may supersede an older one (the older is cancelled in the kernel).

export interface Model {
  get(name: string): any;
  set(name: string, value: any): void;
  save_changes(): void;
  send(content: any, callbacks?: any, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off(event?: string, cb?: (...args: any[]) => void): void;
}

export interface Reply<T = any> {
  result: T;
  buffers: DataView[];
}

export class RequestError extends Error {}

let counter = 0;

export class Requester {
  private pending = new Map<string, { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: any }>();
  private latest = new Map<string, string>();
  private readonly onMsg: (msg: any, buffers: DataView[]) => void;

  constructor(private model: Model, private timeoutMs = 10_000) {
    this.onMsg = (msg, buffers) => this.receive(msg, buffers ?? []);
    model.on("msg:custom", this.onMsg);
  }

  request<T = any>(kind: string, fields: Record<string, any> = {}, opts: { supersede?: boolean } = {}): Promise<Reply<T>> {
    const id = `${kind}-${Date.now().toString(36)}-${(counter++).toString(36)}`;
    if (opts.supersede) {
      const older = this.latest.get(kind);
      if (older) this.abandon(older, "superseded");
      this.latest.set(kind, id);
    }
    return new Promise<Reply<T>>((resolve, reject) => {
      const timer = setTimeout(() => this.abandon(id, `no answer from the kernel within ${this.timeoutMs / 1000} s (is it busy or stopped?)`), this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.model.send({ id, kind, ...fields });
    });
  }

  private abandon(id: string, why: string): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(id);
    this.model.send({ id: `cancel-${id}`, kind: "cancel", target: id });
    entry.reject(new RequestError(why));
  }

  receive(msg: any, buffers: DataView[]): boolean {
    if (!msg || msg.kind !== "reply") return false;
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
