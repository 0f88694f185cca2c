import { test } from "node:test";
import assert from "node:assert/strict";
import { buttons, clockTime, eventText, progressOf, relative, stateLabel, summary } from "../src/pipeline_view/logic";

test("stateLabel names a pipeline that has not run", () => {
  assert.equal(stateLabel(""), "Waiting");
  assert.equal(stateLabel(undefined), "Waiting");
  assert.equal(stateLabel("Running"), "Running");
});

test("Stop only while running, Resume only when idle and not finished", () => {
  const running = buttons("Running", true, false, null);
  assert.equal(running.stop.disabled, false);
  assert.equal(running.resume.disabled, true);
  const stopped = buttons("Stopped", false, false, null);
  assert.equal(stopped.stop.disabled, true);
  assert.equal(stopped.resume.disabled, false);
  assert.equal(stopped.resume.label, "Resume");
  assert.equal(buttons("", false, false, null).resume.label, "Start");
  assert.equal(buttons("Done", false, false, null).resume.disabled, true);
  assert.equal(buttons("Error", false, false, null).resume.disabled, false);
});

test("a request in flight disables both buttons and says so", () => {
  const b = buttons("Running", true, false, "stop");
  assert.equal(b.stop.disabled, true);
  assert.equal(b.stop.label, "Stopping…");
  assert.equal(b.resume.disabled, true);
  assert.equal(buttons("Stopped", false, false, "resume").resume.label, "Starting…");
});

test("offline (no kernel) hides and disables the buttons", () => {
  const b = buttons("Running", true, true, null);
  assert.equal(b.hidden, true);
  assert.equal(b.stop.disabled, true);
  assert.equal(b.resume.disabled, true);
});

test("progressOf clamps, fills Done and ignores what is not a number", () => {
  assert.equal(progressOf({ state: "Done", progress: null }), 100);
  assert.equal(progressOf({ state: "Running", progress: 42.5 }), 42.5);
  assert.equal(progressOf({ state: "Running", progress: 140 }), 100);
  assert.equal(progressOf({ state: "Running", progress: -3 }), 0);
  assert.equal(progressOf({ state: "Running", progress: null }), null);
  assert.equal(progressOf({ state: "Running", progress: Number.NaN }), null);
});

test("timeline times: clock with milliseconds, offset from the first event", () => {
  assert.match(clockTime(1_700_000_000.25), /^\d\d:\d\d:\d\d\.250$/);
  assert.equal(relative(101.234, 100), "+1.23 s");
  assert.equal(relative(100 + 125, 100), "+2 min 5 s");
  assert.equal(relative(99, 100), "+0.00 s");
  assert.equal(relative(5, 0), "");
});

test("eventText names the pipeline for its own events and skips empty parts", () => {
  assert.equal(eventText({ t: 0, action: "", state: "Done", status: "Finished", detail: "" }), "pipeline · Done · Finished");
  assert.equal(eventText({ t: 0, action: "Train", state: "Running", status: "Training", detail: "pass 1 of 3" }),
    "Train · Running · Training · pass 1 of 3");
});

test("summary counts done actions", () => {
  assert.equal(summary([]), "");
  assert.equal(summary([{ state: "Done" }, { state: "Running" }, { state: "" }]), "1 of 3 done");
});
