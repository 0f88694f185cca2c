import { test } from "node:test";
import assert from "node:assert/strict";
import {
  canCancel, durationText, elapsed, eventKind, phases, queueText, shares, summary,
} from "../src/timeline/model";

const t0 = 1_700_000_000;
const lifecycle = [
  { type: "QUEUED_FOR_EXECUTION", time: t0, message: "queued" },
  { type: "STARTING_INSTANCE", time: t0 + 5 },
  { type: "DOWNLOADING_DATA", time: t0 + 6 },
  { type: "RUNNING", time: t0 + 7 },
];

test("each phase lasts until the next event; the last one is open while the job runs", () => {
  const list = phases(lifecycle, "RUNNING", null, t0 + 20);
  assert.deepEqual(list.map((p) => p.duration), [5, 1, 1, 13]);
  assert.deepEqual(list.map((p) => p.open), [false, false, false, true]);
  assert.equal(list[0].kind, "wait");
  assert.equal(list[3].kind, "run");
  assert.equal(list[0].message, "queued");
});

test("an end event is a point, and a finished job without one closes at endedAt", () => {
  const done = phases([...lifecycle, { type: "UPLOADING_RESULTS", time: t0 + 30 }, { type: "COMPLETED", time: t0 + 31 }],
    "COMPLETED", t0 + 31, t0 + 999);
  assert.equal(done.at(-1)!.duration, 0);
  assert.equal(done.at(-1)!.open, false);
  assert.equal(done[3].duration, 23);
  const cut = phases(lifecycle, "FAILED", t0 + 10, t0 + 999);
  assert.equal(cut.at(-1)!.duration, 3);
  assert.equal(cut.at(-1)!.open, false);
});

test("events out of order are sorted, equal times keep their order, bad times are dropped", () => {
  const list = phases([
    { type: "RUNNING", time: t0 + 2 }, { type: "QUEUED_FOR_EXECUTION", time: t0 },
    { type: "STARTING_INSTANCE", time: t0 }, { type: "X", time: Number.NaN },
  ], "RUNNING", null, t0 + 3);
  assert.deepEqual(list.map((p) => p.type), ["QUEUED_FOR_EXECUTION", "STARTING_INSTANCE", "RUNNING"]);
  assert.equal(list[0].duration, 0);
});

test("a clock behind the events never gives a negative duration", () => {
  const list = phases(lifecycle, "RUNNING", null, t0 - 100);
  assert.ok(list.every((p) => p.duration >= 0));
});

test("shares sum to one, follow durations, and keep instant phases visible", () => {
  const list = phases([...lifecycle, { type: "COMPLETED", time: t0 + 100 }], "COMPLETED", t0 + 100, t0 + 100);
  const s = shares(list, 0.05);
  assert.ok(Math.abs(s.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  assert.ok(s.every((x) => x >= 0.05 - 1e-12));
  assert.ok(s[3] > s[0], "93 s of running outweighs 5 s of queue");
  assert.deepEqual(shares([]), []);
  const instant = phases([{ type: "COMPLETED", time: t0 }], "COMPLETED", t0, t0);
  assert.deepEqual(shares(instant), [1]);
});

test("queue text reads Braket's position strings as approximate", () => {
  assert.equal(queueText("3", undefined, "QUEUED"), "Queue position: 3 (JOBS_QUEUE, approximate)");
  assert.equal(queueText(">15", undefined, "QUEUED"), "Queue position: more than 15 (JOBS_QUEUE, approximate)");
  assert.equal(queueText("None", "Job is in RUNNING status.", "RUNNING"), "Job is in RUNNING status.");
  assert.equal(queueText("", "", "QUEUED"), "Queued (position not known yet)");
  assert.equal(queueText("", "", "COMPLETED"), "");
});

test("durations and elapsed time", () => {
  assert.equal(durationText(0.0123), "12 ms");
  assert.equal(durationText(3.25), "3.3 s");
  assert.equal(durationText(125), "2 min 5 s");
  assert.equal(durationText(-1), "–");
  assert.equal(elapsed(t0, t0 + 40, "COMPLETED", t0 + 999), 40);
  assert.equal(elapsed(t0, null, "RUNNING", t0 + 12), 12);
  assert.equal(elapsed(null, null, "RUNNING", t0), null);
});

test("cancel is offered only for a queued or running job, with a kernel", () => {
  assert.equal(canCancel("RUNNING", false, false), true);
  assert.equal(canCancel("QUEUED", false, false), true);
  assert.equal(canCancel("RUNNING", true, false), false);
  assert.equal(canCancel("RUNNING", false, true), false);
  assert.equal(canCancel("CANCELLING", false, false), false);
  assert.equal(canCancel("COMPLETED", false, false), false);
});

test("kinds and the spoken summary", () => {
  assert.equal(eventKind("MAX_RUNTIME_EXCEEDED"), "fail");
  assert.equal(eventKind("SOMETHING_NEW"), "other");
  assert.equal(summary([]), "no events yet");
  assert.match(summary(phases(lifecycle, "RUNNING", null, t0 + 20)), /running 13\.0 s so far$/);
});
