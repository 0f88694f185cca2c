// Where the grid's rows come from: the kernel (the DataFrame stays there; pages are asked for
// as the view scrolls) or, in a page saved without a kernel, the rows saved with the widget,
// sorted and paged here.
import type { AnyModel } from "@anywidget/types";
import { formatNumber } from "../shared/format";
import { REQUEST } from "../shared/kinds";
import { Requester } from "../shared/request";
import { type WindowReply, decodeWindow } from "./decode";
import { type LocalTable, localOrder, localWindow, toCsv } from "./local";
import type { GridTraits, Summary, ViewState, WindowData } from "./types";
import { viewKey } from "./view";

export interface Csv {
  blob: Blob;
  note: string;
}

export interface Source {
  window(offset: number, limit: number, s: ViewState): Promise<WindowData>;
  summaries(): Promise<Record<string, Summary>>;
  exportCsv(s: ViewState, progress: (text: string) => void): Promise<Csv>;
  readonly local: boolean;
  dispose(): void;
}

// The result of an "export" request: rows start .. start + count of `limit` as CSV bytes
// (the first buffer), and where the next chunk starts (null after the last).
interface ExportChunk {
  start: number;
  count: number;
  limit: number;
  next: number | null;
  message?: string;
}

export class KernelSource implements Source {
  readonly local = false;
  private req: Requester;
  constructor(private model: AnyModel<GridTraits>) {
    this.req = new Requester(model, 30_000);
  }

  private fields(s: ViewState): Record<string, unknown> {
    return { sort_by: s.sortBy, descending: s.descending, filters: s.filters, version: this.model.get("_version") };
  }

  async window(offset: number, limit: number, s: ViewState): Promise<WindowData> {
    const r = await this.req.request<WindowReply>(REQUEST.window, { offset, limit, ...this.fields(s) }, { supersede: true });
    return decodeWindow(r.result, r.buffers);
  }

  async summaries(): Promise<Record<string, Summary>> {
    const r = await this.req.request<Record<string, Summary> | null>(REQUEST.summary, { version: this.model.get("_version") });
    return r.result ?? {};
  }

  async exportCsv(s: ViewState, progress: (text: string) => void): Promise<Csv> {
    const parts: BlobPart[] = [];
    let start = 0;
    let note = "";
    for (;;) {
      const r = await this.req.request<ExportChunk>(REQUEST.export, { start, ...this.fields(s) });
      const res = r.result;
      const b = r.buffers[0];
      if (b) parts.push(new Uint8Array((b.buffer as ArrayBuffer).slice(b.byteOffset, b.byteOffset + b.byteLength)));
      note = res.message || "";
      progress(`Exporting… ${formatNumber(res.start + res.count)} of ${formatNumber(res.limit)} rows`);
      if (res.next === null || res.next === undefined) break;
      start = res.next;
    }
    return { blob: new Blob(parts, { type: "text/csv" }), note };
  }

  dispose(): void {
    this.req.dispose();
  }
}

export class LocalSource implements Source {
  readonly local = true;
  private last: { key: string; order: number[] } | null = null;
  constructor(readonly table: LocalTable, private indexName: string) {}

  private order(s: ViewState): number[] {
    const key = viewKey(0, s);
    if (!this.last || this.last.key !== key) this.last = { key, order: localOrder(this.table, s) };
    return this.last.order;
  }

  async window(offset: number, limit: number, s: ViewState): Promise<WindowData> {
    return localWindow(this.table, this.order(s), offset, limit);
  }

  async summaries(): Promise<Record<string, Summary>> {
    return this.table.summaries;
  }

  async exportCsv(s: ViewState): Promise<Csv> {
    const order = this.order(s);
    const t = this.table;
    const note = t.rows < t.total
      ? `this page saved the first ${formatNumber(t.rows)} of ${formatNumber(t.total)} rows; the file holds those that match`
      : "";
    return { blob: new Blob([toCsv(t, order, this.indexName)], { type: "text/csv" }), note };
  }

  dispose(): void {}
}
