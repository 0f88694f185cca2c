import { test } from "node:test";
import assert from "node:assert/strict";
import {
  agoText, countDescription, countText, fillFraction, markerFraction, moreText, sortMine, statusTone, whereText,
  type Count, type Mine,
} from "../src/gauges/model";

const count = (over: Partial<Count> = {}): Count => ({
  raw: "12", value: 12, lower_bound: false, approximate: false, note: null, display: "12", ...over,
});

const mine = (id: string, value: number | null, over: Partial<Mine> = {}): Mine => ({
  kind: "task", arn: `arn:aws:braket:us-east-1:1:quantum-task/${id}`, id, status: value === null ? "COMPLETED" : "QUEUED",
  queue: "normal", position: count({ value, display: value === null ? "–" : String(value), raw: value === null ? "None" : String(value) }),
  message: value === null ? "Task is in COMPLETED status." : null, ...over,
});

test("fillFraction is logarithmic, capped, and full for a lower bound", () => {
  assert.equal(fillFraction(0, 4000), 0);
  assert.equal(fillFraction(null, 4000), 0);
  assert.equal(fillFraction(4000, 4000), 1);
  assert.equal(fillFraction(9000, 4000), 1);
  assert.equal(fillFraction(4000, 4000, true), 1);
  const small = fillFraction(3, 4000), mid = fillFraction(30, 4000), big = fillFraction(3000, 4000);
  assert.ok(small > 0.1 && small < mid && mid < big && big < 1, `${small} ${mid} ${big}`);
  // 3 and 30 stay far apart on the scale even though both are tiny next to 4000
  assert.ok(mid - small > 0.2);
});

test("markerFraction places a position on the gauge's scale", () => {
  assert.equal(markerFraction(null, 4000), null);
  assert.equal(markerFraction(-1, 4000), null);
  assert.equal(markerFraction(0, 4000), 0);
  assert.equal(markerFraction(12, 4000), fillFraction(12, 4000));
  assert.equal(markerFraction(2500, 2000), 1);
});

test("count texts say lower bounds, approximations and notes", () => {
  assert.equal(countText(count({ raw: ">4000", value: 4000, lower_bound: true, approximate: true, display: "4000+" })), "4000+");
  assert.equal(countText(count({ value: 0, display: "0", note: "1 prioritized job(s) running" })), "0 · 1 prioritized job(s) running");
  assert.equal(countDescription("Tasks", count({ value: 4000, lower_bound: true, display: "4000+" })), "Tasks: more than 4000");
  assert.equal(countDescription("Tasks", count({ approximate: true, display: "≈12" })), "Tasks: about 12");
  assert.equal(countDescription("Jobs", count({ value: null, display: "–" })), "Jobs: unknown");
});

test("statusTone maps device statuses", () => {
  assert.equal(statusTone("ONLINE"), "ok");
  assert.equal(statusTone("OFFLINE"), "warn");
  assert.equal(statusTone("RETIRED"), "off");
  assert.equal(statusTone("<b>"), "unknown");
});

test("whereText names the queue, or the message once the item left it", () => {
  assert.equal(whereText(mine("a", 7)), "QUEUED, position 7 in the queue");
  assert.equal(whereText(mine("b", 3, { queue: "priority", position: count({ value: 3, display: "≈3", approximate: true }) })),
    "QUEUED, position ≈3 (approximate) in the priority queue");
  assert.equal(whereText(mine("c", 2000, { position: count({ value: 2000, display: "2000+", lower_bound: true, approximate: true }) })),
    "QUEUED, position 2000+ in the queue");
  assert.equal(whereText(mine("d", null)), "COMPLETED: Task is in COMPLETED status.");
});

test("moreText and agoText", () => {
  assert.equal(moreText(0), "");
  assert.equal(moreText(1), "1 more device not shown");
  assert.equal(moreText(5), "5 more devices not shown");
  assert.equal(agoText(null, 100), "not read yet");
  assert.equal(agoText(99.5, 100), "updated just now");
  assert.equal(agoText(70, 100), "updated 30 s ago");
  assert.equal(agoText(100 - 3 * 3600 - 120, 100), "updated 3 h 2 min ago");
});

test("sortMine puts waiting items first, nearest first", () => {
  const order = sortMine([mine("z", null), mine("far", 90), mine("near", 2), mine("a", null)]).map((m) => m.id);
  assert.deepEqual(order, ["near", "far", "a", "z"]);
});
