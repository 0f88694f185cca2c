import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, formatNumber } from "../src/shared/format";

test("formatNumber keeps integers exact and shortens floats", () => {
  assert.equal(formatNumber(1234567), "1 234 567");
  assert.equal(formatNumber(0.123456), "0.1235");
  assert.equal(formatNumber(1.5e-7), "1.500e-7");
  assert.equal(formatNumber(Number.NaN), "NaN");
  assert.equal(formatNumber(-Infinity), "-∞");
  assert.equal(formatNumber("<b>x</b>"), "<b>x</b>");
  assert.equal(formatNumber(null), "");
});

test("formatDuration reads like a person would say it", () => {
  assert.equal(formatDuration(5.4), "5 s");
  assert.equal(formatDuration(125), "2 min 5 s");
  assert.equal(formatDuration(3 * 3600 + 120), "3 h 2 min");
  assert.equal(formatDuration(null), "–");
  assert.equal(formatDuration(-1), "–");
});
