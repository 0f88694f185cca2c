// The validation-score chart's geometry (pure, unit-tested): scales, "nice" ticks and the SVG
// path of the [version, score] points. Points without a score (no client reported yet) are
// gaps in the line, not zeros.

export type Point = [number, number | null];

export interface Geometry {
  path: string; // SVG path "M x y L x y ..." (a gap starts a new "M")
  dots: { x: number; y: number; version: number; score: number }[];
  xTicks: { at: number; label: number }[];
  yTicks: { at: number; label: number }[];
  last: { version: number; score: number } | null;
}

export function niceStep(span: number, count: number): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, count);
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const unit = raw / power;
  // the thresholds d3 uses: the step whose tick count is nearest the one asked for
  const nice = unit >= Math.sqrt(50) ? 10 : unit >= Math.sqrt(10) ? 5 : unit >= Math.sqrt(2) ? 2 : 1;
  return nice * power;
}

export function ticks(min: number, max: number, count: number, integers = false): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  let step = niceStep(max - min, count);
  if (integers) step = Math.max(1, Math.round(step));
  const out: number[] = [];
  const first = Math.ceil(min / step - 1e-9) * step;
  for (let v = first; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function geometry(points: Point[], width: number, height: number,
  pad = { left: 44, right: 10, top: 10, bottom: 22 }): Geometry {
  const scored = points.filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1]));
  const empty: Geometry = { path: "", dots: [], xTicks: [], yTicks: [], last: null };
  if (!scored.length) return empty;
  const xs = points.map((p) => p[0]);
  let x0 = Math.min(...xs), x1 = Math.max(...xs);
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  let y0 = Math.min(...scored.map((p) => p[1])), y1 = Math.max(...scored.map((p) => p[1]));
  if (y0 === y1) { const d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; }
  const w = width - pad.left - pad.right, hgt = height - pad.top - pad.bottom;
  const sx = (v: number) => pad.left + ((v - x0) / (x1 - x0)) * w;
  const sy = (s: number) => pad.top + (1 - (s - y0) / (y1 - y0)) * hgt;
  const parts: string[] = [];
  const dots: Geometry["dots"] = [];
  let pen = false;
  for (const [version, score] of points) {
    if (score === null || !Number.isFinite(score)) { pen = false; continue; }
    const x = round1(sx(version)), y = round1(sy(score));
    parts.push(`${pen ? "L" : "M"}${x} ${y}`);
    dots.push({ x, y, version, score });
    pen = true;
  }
  const lastPoint = scored[scored.length - 1];
  return {
    path: parts.join(" "),
    dots,
    xTicks: ticks(x0, x1, 5, true).filter((v) => v >= x0 && v <= x1).map((v) => ({ at: round1(sx(v)), label: v })),
    yTicks: ticks(y0, y1, 4).map((v) => ({ at: round1(sy(v)), label: v })),
    last: { version: lastPoint[0], score: lastPoint[1] },
  };
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
