import { test } from "node:test";
import assert from "node:assert/strict";
import { extent, logTicks, niceStep, niceTicks, scale, tickLabel } from "../src/monitor/scale";
import { float32s, minmaxColumns, nearestIndex } from "../src/monitor/series";
import { etaText, percent, pointsText, positionText, warningText } from "../src/monitor/view";

test("scale maps the domain onto the range and back", () => {
  const s = scale([0, 10], [50, 250]);
  assert.equal(s(0), 50);
  assert.equal(s(10), 250);
  assert.equal(s(2.5), 100);
  assert.equal(s.invert(150), 5);
  const down = scale([1, 3], [200, 0]); // y axes grow upwards
  assert.equal(down(3), 0);
  assert.equal(down.invert(100), 2);
});

test("a flat domain is widened so a constant series draws in the middle", () => {
  const s = scale([4, 4], [0, 100]);
  assert.equal(s(4), 50);
  assert.ok(s.domain[0] < 4 && s.domain[1] > 4);
  assert.equal(scale([0, 0], [0, 100])(0), 50);
});

test("log scale spaces decades evenly", () => {
  const s = scale([0.01, 100], [0, 400], true);
  assert.ok(Math.abs(s(0.1) - 100) < 1e-9);
  assert.ok(Math.abs(s(1) - 200) < 1e-9);
  assert.ok(Math.abs(s.invert(300) - 10) < 1e-9);
  assert.deepEqual(logTicks(0.01, 100), [0.01, 0.1, 1, 10, 100]);
});

test("extent skips NaN and infinities, null when nothing is finite", () => {
  assert.deepEqual(extent([3, NaN, -1, Infinity], new Float32Array([7])), [-1, 7]);
  assert.equal(extent([NaN, -Infinity]), null);
  assert.equal(extent([]), null);
});

test("nice ticks are round, inside the range and about as many as asked", () => {
  assert.deepEqual(niceTicks(0, 10, 5), [0, 2, 4, 6, 8, 10]);
  assert.deepEqual(niceTicks(0.13, 0.92, 4), [0.2, 0.4, 0.6, 0.8]);
  assert.deepEqual(niceTicks(-3, 3, 3), [-2, 0, 2]);
  assert.deepEqual(niceTicks(5, 5), [5]);
  const many = niceTicks(0, 999_999, 6);
  assert.ok(many.length >= 4 && many.length <= 12);
  for (const t of many) assert.equal(t % 100_000, 0);
  assert.equal(niceStep(0.3), 0.2);
  assert.equal(niceStep(7.5), 10);
  // no floating noise such as 0.30000000000000004
  for (const t of niceTicks(0, 1, 10)) assert.ok(String(t).length <= 4, String(t));
});

test("tick labels are short", () => {
  assert.equal(tickLabel(0), "0");
  assert.equal(tickLabel(250000), "2.5e5");
  assert.equal(tickLabel(1000), "1 000");
  assert.equal(tickLabel(0.0001), "1e-4");
  assert.equal(tickLabel(0.25), "0.25");
});

test("float32s reads little-endian buffers, aligned or not", () => {
  const values = new Float32Array([1.5, -2, NaN]);
  assert.deepEqual(Array.from(float32s(new DataView(values.buffer))), [1.5, -2, NaN]);
  const shifted = new Uint8Array(13);
  shifted.set(new Uint8Array(values.buffer), 1);
  assert.deepEqual(Array.from(float32s(new DataView(shifted.buffer, 1, 12))), [1.5, -2, NaN]);
  assert.equal(float32s(null).length, 0);
  assert.equal(float32s(values.buffer).length, 3);
});

test("minmaxColumns keeps each column's lowest and highest point, in x order", () => {
  const n = 10_000;
  const x = Array.from({ length: n }, (_, i) => i);
  const y = x.map((i) => Math.sin(i / 50));
  y[4321] = 99; // a spike
  y[777] = -99;
  const out = minmaxColumns({ x, y }, 0, n - 1, 100);
  assert.ok(out.x.length <= 200);
  const xs = Array.from(out.x);
  assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
  const ys = Array.from(out.y);
  assert.ok(ys.includes(99) && ys.includes(-99));
  // every column: its min and max are kept
  const width = (n - 1) / 100;
  for (let c = 0; c < 100; c += 7) {
    const inCol = x.filter((i) => Math.min(99, Math.floor(i / width)) === c);
    const kept = xs.map((v, k) => [v, ys[k]]).filter(([v]) => Math.min(99, Math.floor(v / width)) === c).map(([, v]) => v);
    assert.equal(Math.min(...kept), Math.min(...inCol.map((i) => y[i])));
    assert.equal(Math.max(...kept), Math.max(...inCol.map((i) => y[i])));
  }
});

test("minmaxColumns leaves short series alone and keeps all-NaN columns as gaps", () => {
  const short = { x: [0, 1, 2], y: [3, 2, 1] };
  assert.equal(minmaxColumns(short, 0, 2, 100), short);
  const x = Array.from({ length: 40 }, (_, i) => i);
  const y = x.map((i) => (i < 20 ? i : NaN));
  const out = minmaxColumns({ x, y }, 0, 39, 4);
  assert.ok(Array.from(out.y).some((v) => Number.isNaN(v)));
  assert.ok(Array.from(out.y).includes(0) && Array.from(out.y).includes(19));
});

test("nearestIndex finds the closest sorted x", () => {
  const xs = new Float32Array([0, 10, 20, 30]);
  assert.equal(nearestIndex(xs, -5), 0);
  assert.equal(nearestIndex(xs, 14), 1);
  assert.equal(nearestIndex(xs, 16), 2);
  assert.equal(nearestIndex(xs, 99), 3);
  assert.equal(nearestIndex([], 3), -1);
  assert.equal(nearestIndex([7], 3), 0);
});

test("status lines", () => {
  assert.equal(percent(150), 100);
  assert.equal(percent(undefined), 0);
  assert.equal(positionText(1, 6, 2, 4), "pass 2 of 6 · batch 3 of 4");
  assert.equal(positionText(0, 0, 0, 0), "");
  assert.equal(etaText("processing", 125), "ETA 2 min 5 s");
  assert.equal(etaText("completed", 3), "");
  assert.equal(etaText("cancelled_pending", 3), "stopping…");
  assert.equal(pointsText(1_000_000, 4000), "1 000 000 values, 4 000 drawn (min/max per bucket)");
  assert.equal(pointsText(20, 20), "20 values");
  assert.equal(pointsText(1, 1), "1 value");
  assert.equal(pointsText(0, 0), "");
});

test("the solver warning line is text, and hidden when there is none", () => {
  assert.equal(warningText("LOBPCG_FAST stopped at 12% of rows"), "Warning: LOBPCG_FAST stopped at 12% of rows");
  assert.equal(warningText(""), "");
  assert.equal(warningText("  "), "");
  assert.equal(warningText(null), "");
});
