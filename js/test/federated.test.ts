import { test } from "node:test";
import assert from "node:assert/strict";
import { geometry, niceStep, ticks } from "../src/federated/chart";
import { ago, clockTime, roundText, ruleText } from "../src/federated/view";

test("niceStep picks 1, 2 or 5 times a power of ten", () => {
  assert.equal(niceStep(10, 5), 2);
  assert.equal(niceStep(1, 4), 0.2);
  assert.equal(niceStep(1, 2), 0.5);
  assert.equal(niceStep(0.03, 3), 0.01);
  assert.equal(niceStep(0, 3), 1);
  assert.equal(niceStep(Number.NaN, 3), 1);
});

test("ticks cover the range on round values; integer ticks for versions", () => {
  assert.deepEqual(ticks(0, 1, 4), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(ticks(1, 8, 4, true), [2, 4, 6, 8]);
  assert.deepEqual(ticks(1, 3, 5, true), [1, 2, 3]);
  assert.deepEqual(ticks(0.76, 0.99, 4), [0.8, 0.85, 0.9, 0.95]);
  assert.deepEqual(ticks(5, 5, 4), [5]);
});

test("geometry maps versions left to right and higher scores upwards", () => {
  const g = geometry([[1, 0.5], [2, 0.7], [3, 0.9]], 200, 100, { left: 0, right: 0, top: 0, bottom: 0 });
  assert.equal(g.dots.length, 3);
  assert.deepEqual(g.dots.map((d) => d.x), [0, 100, 200]);
  assert.deepEqual(g.dots.map((d) => d.y), [100, 50, 0]);
  assert.equal(g.path, "M0 100 L100 50 L200 0");
  assert.deepEqual(g.last, { version: 3, score: 0.9 });
});

test("a version without a score is a gap, not a zero", () => {
  const g = geometry([[1, 0.2], [2, null], [3, 0.4], [4, 0.6]], 300, 100, { left: 0, right: 0, top: 0, bottom: 0 });
  assert.equal(g.dots.length, 3);
  assert.equal((g.path.match(/M/g) ?? []).length, 2);
  assert.ok(g.path.startsWith("M0 100 M"));
  assert.equal(Math.max(...g.dots.map((d) => d.y)), 100);
});

test("no scores at all gives an empty chart; one score is centred", () => {
  assert.equal(geometry([[1, null]], 100, 100).path, "");
  assert.equal(geometry([], 100, 100).last, null);
  const one = geometry([[4, 0.3]], 100, 100, { left: 0, right: 0, top: 0, bottom: 0 });
  assert.deepEqual(one.dots.map((d) => [d.x, d.y]), [[50, 50]]);
});

test("ruleText says how and when the model aggregates", () => {
  assert.equal(ruleText({ rule: "all_clients", aggregation: "fedavg" }), "FedAvg (weighted by samples), once every client sent an update");
  assert.equal(ruleText({ rule: "x_updates", aggregation: "mean", x_updates: 3 }), "unweighted mean, once 3 updates arrived");
  assert.equal(ruleText({ rule: "periodic", aggregation: "mean", period_s: 60 }), "unweighted mean, whatever arrived every 60 s");
  assert.equal(ruleText({ rule: "all_clients", aggregation: "mean", period_s: 5 }), "unweighted mean, once every client sent an update, checked every 5 s");
  assert.equal(ruleText({}), "");
});

test("roundText counts who sent and who is awaited", () => {
  assert.equal(roundText({ version: 4, pending_updates: 2, waiting_for: ["ab12cd34"] }, 3),
    "Round 4: 2 updates pending, 2 of 3 clients sent (waiting for ab12cd34)");
  assert.equal(roundText({ version: 1, pending_updates: 1, updates_needed: 2, next_aggregation_in_s: 2.2 }, 5),
    "Round 1: 1 update pending, 2 more needed; next check in 3 s");
  assert.equal(roundText({}, 0), "");
});

test("ago and clockTime read ISO times; garbage gives nothing", () => {
  const now = "2025-01-01T12:00:00.000000Z";
  assert.equal(ago("2025-01-01T11:59:59.500000Z", now), "just now");
  assert.equal(ago("2025-01-01T11:59:30Z", now), "30 s ago");
  assert.equal(ago("2025-01-01T11:00:00Z", now), "1 h ago");
  assert.equal(ago("2024-12-25T12:00:00Z", now), "7 d ago");
  assert.equal(ago("<b>x</b>", now), "");
  assert.equal(clockTime("2025-01-01T08:05:03.123456Z"), "08:05:03");
  assert.equal(clockTime("nope"), "");
});
