// Scales and axis ticks of the loss chart (pure: unit-tested in js/test/monitor.test.ts).

export interface Scale {
  (v: number): number;
  invert(p: number): number;
  domain: [number, number];
  range: [number, number];
  log: boolean;
}

// Maps [d0, d1] onto [r0, r1]; with `log`, through log10 (for values that are all > 0).
// A flat domain is widened so a constant series still draws as a line in the middle.
export function scale(domain: [number, number], range: [number, number], log = false): Scale {
  let [d0, d1] = log ? [Math.log10(domain[0]), Math.log10(domain[1])] : domain;
  if (!(d1 > d0)) {
    const pad = d0 === 0 ? 1 : Math.abs(d0) * 0.05;
    d0 -= pad;
    d1 += pad;
  }
  const [r0, r1] = range;
  const k = (r1 - r0) / (d1 - d0);
  const f = ((v: number) => r0 + ((log ? Math.log10(v) : v) - d0) * k) as Scale;
  f.invert = (p: number) => {
    const v = d0 + (p - r0) / k;
    return log ? 10 ** v : v;
  };
  f.domain = log ? [10 ** d0, 10 ** d1] : [d0, d1];
  f.range = [r0, r1];
  f.log = log;
  return f;
}

// Smallest and largest finite values (NaN and ±Infinity are gaps); null when none.
export function extent(...series: ArrayLike<number>[]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    for (let i = 0; i < s.length; i++) {
      const v = s[i];
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : null;
}

// "Nice" round ticks (1, 2, 5 x 10^k steps) covering [lo, hi] with about `count` of them.
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) return [lo];
  const step = niceStep((hi - lo) / Math.max(1, count));
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(roundTo(i * step, step));
  return ticks;
}

export function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  const nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nice * power;
}

// Ticks of a log axis: the powers of ten inside [lo, hi] (both > 0), or nice linear ticks
// when the range is under one decade.
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.ceil(Math.log10(lo) - 1e-9);
  const b = Math.floor(Math.log10(hi) + 1e-9);
  if (b - a < 1) return niceTicks(lo, hi, 4);
  const every = Math.max(1, Math.ceil((b - a + 1) / 6));
  const ticks: number[] = [];
  for (let e = a; e <= b; e += every) ticks.push(10 ** e);
  return ticks;
}

// Removes floating noise such as 0.30000000000000004 from a multiple of `step`.
function roundTo(v: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(digits, 20)));
}

export function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = v.toExponential(1).split("e");
    return `${m.replace(/\.0$/, "")}e${Number(e)}`;
  }
  if (Number.isInteger(v)) return v.toLocaleString("en-US").replace(/,/g, " ");
  return String(Number(v.toPrecision(3)));
}
