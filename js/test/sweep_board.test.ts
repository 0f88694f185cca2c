import { test } from "node:test";
import assert from "node:assert/strict";
import { type Row, ariaSort, cellText, nextSort, progressText, sortRows, sparkPoints, summary, timeText } from "../src/sweep_board/logic";

function row(index: number, fields: Partial<Row> = {}): Row {
  return {
    index, config: {}, status: "queued", reason: "", progress: 0, loss: [], last_loss: null, steps: 0,
    metric: null, train_time_s: null, guid: null, ...fields,
  };
}

test("sorting by the metric: ascending, descending, rows without one last either way", () => {
  const rows = [row(0, { metric: 0.5 }), row(1), row(2, { metric: 0.9 }), row(3, { metric: 0.1 })];
  assert.deepEqual(sortRows(rows, { sortBy: "metric", descending: false }).map((r) => r.index), [3, 0, 2, 1]);
  assert.deepEqual(sortRows(rows, { sortBy: "metric", descending: true }).map((r) => r.index), [2, 0, 3, 1]);
  assert.deepEqual(sortRows(rows, { sortBy: "", descending: true }).map((r) => r.index), [0, 1, 2, 3]);
});

test("sorting is stable in both directions and by config columns", () => {
  const rows = [0, 1, 2, 3, 4].map((i) => row(i, { config: { model: i % 2 ? "pauli" : "ensemble", qbits: i < 3 ? 2 : 3 } }));
  assert.deepEqual(sortRows(rows, { sortBy: "model", descending: false }).map((r) => r.index), [0, 2, 4, 1, 3]);
  assert.deepEqual(sortRows(rows, { sortBy: "model", descending: true }).map((r) => r.index), [1, 3, 0, 2, 4]);
  assert.deepEqual(sortRows(rows, { sortBy: "qbits", descending: true }).map((r) => r.index), [3, 4, 0, 1, 2]);
});

test("loss sorts by the last loss; numbers before text in a mixed column", () => {
  const rows = [row(0, { last_loss: 3 }), row(1, { last_loss: 1 }), row(2)];
  assert.deepEqual(sortRows(rows, { sortBy: "loss", descending: false }).map((r) => r.index), [1, 0, 2]);
  const mixed = [row(0, { config: { s: "b" } }), row(1, { config: { s: 2 } }), row(2, { config: { s: "a" } }), row(3, { config: { s: null } })];
  assert.deepEqual(sortRows(mixed, { sortBy: "s", descending: false }).map((r) => r.index), [1, 2, 0, 3]);
  assert.deepEqual(sortRows(mixed, { sortBy: "s", descending: true }).map((r) => r.index), [0, 2, 1, 3]);
});

test("a header cycles ascending, descending, the sweep's order", () => {
  let s = nextSort({ sortBy: "", descending: false }, "metric");
  assert.deepEqual(s, { sortBy: "metric", descending: false });
  assert.equal(ariaSort(s, "metric"), "ascending");
  s = nextSort(s, "metric");
  assert.equal(ariaSort(s, "metric"), "descending");
  assert.equal(ariaSort(s, "status"), "none");
  assert.deepEqual(nextSort(s, "metric"), { sortBy: "", descending: false });
  assert.deepEqual(nextSort(s, "status"), { sortBy: "status", descending: false });
});

test("cell, progress, time and summary texts", () => {
  assert.equal(cellText(null), "");
  assert.equal(cellText(0.123456), "0.1235");
  assert.equal(cellText("<b>x</b>"), "<b>x</b>");
  assert.equal(progressText(row(0, { progress: 37.6 })), "38%");
  assert.equal(progressText(row(0, { progress: 140 })), "100%");
  assert.equal(timeText(null), "");
  assert.equal(timeText(1.234), "1.2 s");
  assert.equal(timeText(75), "1 min 15 s");
  assert.equal(summary([row(0, { status: "completed" }), row(1, { status: "failed" }), row(2, { status: "completed" })]),
    "3 configurations: 2 completed, 1 failed");
  assert.equal(summary([]), "0 configurations");
});

test("sparkline points fit the box, skip gaps, and are empty with nothing finite", () => {
  assert.equal(sparkPoints([], 100, 20), "");
  assert.equal(sparkPoints([null, NaN], 100, 20), "");
  const pts = sparkPoints([4, null, 2, 0], 100, 20).split(" ").map((p) => p.split(",").map(Number));
  assert.equal(pts.length, 3);
  assert.deepEqual(pts[0], [2, 2]); // the highest value at the top left
  assert.deepEqual(pts[2], [98, 18]); // the lowest at the bottom right
  assert.deepEqual(sparkPoints([5, 5], 100, 20), "2.0,10.0 98.0,10.0");
});
