// The chart's data: binary buffers from the kernel, per-pixel min/max decimation and the
// nearest point under the cursor (pure: unit-tested in js/test/monitor.test.ts).

// A float32 little-endian buffer as the widget gets it (DataView in JupyterLab and in the
// offline page, ArrayBuffer or typed array elsewhere).
export function float32s(value: unknown): Float32Array {
  if (!value) return new Float32Array(0);
  let bytes: Uint8Array;
  if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
  else if (ArrayBuffer.isView(value)) bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  else return new Float32Array(0);
  const n = Math.floor(bytes.byteLength / 4);
  // Copy when unaligned: a Float32Array view needs a 4-byte aligned offset.
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  const out = new Float32Array(n);
  new Uint8Array(out.buffer).set(bytes.subarray(0, n * 4));
  return out;
}

export interface Points {
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

// At most two points (the lowest and highest) per pixel column between x0 and x1 (xs sorted),
// in x order, so a chart of any length keeps its spikes. Short series come back unchanged.
export function minmaxColumns(p: Points, x0: number, x1: number, columns: number): Points {
  const n = p.x.length;
  if (n <= 2 * columns || columns < 1 || !(x1 > x0)) return p;
  const xs: number[] = [];
  const ys: number[] = [];
  const width = (x1 - x0) / columns;
  let i = 0;
  while (i < n) {
    const col = Math.min(columns - 1, Math.max(0, Math.floor((p.x[i] - x0) / width)));
    let lo = -1;
    let hi = -1;
    let j = i;
    for (; j < n; j++) {
      const c = Math.min(columns - 1, Math.max(0, Math.floor((p.x[j] - x0) / width)));
      if (c !== col) break;
      const v = p.y[j];
      if (Number.isNaN(v)) continue;
      if (lo < 0 || v < p.y[lo]) lo = j;
      if (hi < 0 || v > p.y[hi]) hi = j;
    }
    if (lo < 0) {
      xs.push(p.x[i]);  // an all-NaN column stays a gap
      ys.push(NaN);
    } else {
      const [a, b] = lo <= hi ? [lo, hi] : [hi, lo];
      xs.push(p.x[a]);
      ys.push(p.y[a]);
      if (b !== a) {
        xs.push(p.x[b]);
        ys.push(p.y[b]);
      }
    }
    i = j;
  }
  return { x: xs, y: ys };
}

// Index of the x closest to `x` in sorted xs (binary search); -1 when empty.
export function nearestIndex(xs: ArrayLike<number>, x: number): number {
  const n = xs.length;
  if (!n) return -1;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) lo = mid;
    else hi = mid;
  }
  return Math.abs(xs[hi] - x) < Math.abs(xs[lo] - x) ? hi : lo;
}
