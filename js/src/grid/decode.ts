// Kernel window replies to rows: numbers arrive as binary buffers (float64, int64, uint64,
// uint8 for booleans), text as JSON lists.
import type { Cell, Page, WindowData } from "./types";

type Encoded = { encoding: string; buffer?: number; data?: (string | null)[] };

// The result of a "window" request (qwidgets/widgets/frame_view.py), buffers apart.
export interface WindowReply {
  offset?: number;
  count?: number;
  total?: number;
  index?: Encoded;
  columns?: (Encoded & { name: string })[];
  scales?: Record<string, number>;
}

function bytes(view: DataView | ArrayBuffer | ArrayBufferView): ArrayBuffer {
  // A copy, so the typed array below starts on an aligned offset whatever the message framing.
  if (view instanceof ArrayBuffer) return view.slice(0);
  const v = view as ArrayBufferView;
  return (v.buffer as ArrayBuffer).slice(v.byteOffset, v.byteOffset + v.byteLength);
}

function bigToCell(v: bigint): Cell {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v.toString();
}

export function decodeColumn(col: Encoded, buffers: (DataView | ArrayBuffer | ArrayBufferView)[]): Cell[] {
  if (col.encoding === "json") return (col.data ?? []).map((v) => (v === undefined ? null : v));
  const raw = buffers[col.buffer ?? -1];
  if (raw === undefined) throw new Error(`window reply lacks buffer ${col.buffer}`);
  const buf = bytes(raw);
  switch (col.encoding) {
    case "f8": return Array.from(new Float64Array(buf));
    case "i8": return Array.from(new BigInt64Array(buf), bigToCell);
    case "u8": return Array.from(new BigUint64Array(buf), bigToCell);
    case "b1": return Array.from(new Uint8Array(buf));
    default: throw new Error(`unknown column encoding ${col.encoding}`);
  }
}

export function decodeWindow(result: WindowReply, buffers: (DataView | ArrayBuffer | ArrayBufferView)[]): WindowData {
  const columns: Record<string, Cell[]> = {};
  for (const col of result.columns ?? []) columns[col.name] = decodeColumn(col, buffers);
  return {
    offset: Number(result.offset ?? 0),
    count: Number(result.count ?? 0),
    total: Number(result.total ?? 0),
    index: decodeColumn(result.index ?? { encoding: "json", data: [] }, buffers),
    columns,
    scales: result.scales ?? {},
  };
}

// The whole pages a window covers: every page fully inside it, and the view's last page when
// the window reaches the end of the view. Rows of a page cut short by the kernel are left for
// the next request.
export function splitPages(w: WindowData, pageRows: number): Map<number, Page> {
  const out = new Map<number, Page>();
  const end = w.offset + w.count;
  for (let p = Math.ceil(w.offset / pageRows); p * pageRows < end; p++) {
    const a = p * pageRows;
    const b = Math.min(a + pageRows, w.total);
    if (b > end) break;
    const columns: Record<string, Cell[]> = {};
    for (const [name, values] of Object.entries(w.columns)) columns[name] = values.slice(a - w.offset, b - w.offset);
    out.set(p, { index: w.index.slice(a - w.offset, b - w.offset), columns });
  }
  return out;
}
