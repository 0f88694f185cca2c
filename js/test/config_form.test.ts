import { test } from "node:test";
import assert from "node:assert/strict";
import { buildSections, controlKeys, type Schema, shapeOf } from "../src/config_form/schema";
import { allowed, formatBound, formatG, formatValue, localError, OMIT, parseInput, parseMap, stepInt } from "../src/config_form/parse";
import { getAt, setAt, switchFamily, switchOption, toggleLabel } from "../src/config_form/values";

// The shape of qwidgets.sim.params.describe_all(), cut down to a few fields of each kind.
function schema(): Schema {
  const operators = { name: "operators", kind: "labels", doc: "Columns.", required: true };
  const common = [
    { name: "sigma_sq", kind: "float_or_map", doc: "", required: false, default: {} },
    { name: "seed", kind: "int", doc: "", required: false, default: 42, maximum: 4294967295 },
    { name: "target_operators", kind: "labels", doc: "", required: false, default: [] },
  ];
  return {
    models: {
      pauli: { name: "pauli", doc: "Pauli strings.", fields: [
        operators,
        { name: "qbits", kind: "int", doc: "Qubits.", required: false, default: 2, minimum: 1, maximum: 8 },
        { name: "pauli_weight", kind: "int", doc: "", required: false, default: 2, minimum: 1, maximum: 8 },
        ...common,
        { name: "model_name", kind: "str", doc: "", required: false, default: "pauli" },
      ] },
      ensemble: { name: "ensemble", doc: "Projectors.", fields: [
        operators,
        { name: "dim", kind: "int", doc: "", required: false, default: 16, minimum: 2, maximum: 512 },
        ...common,
        { name: "model_name", kind: "str", doc: "", required: false, default: "ensemble" },
      ] },
    },
    training: { name: "training", doc: "", fields: [
      { name: "batch_size", kind: "int", doc: "Rows per batch.", required: true, minimum: 1 },
      { name: "num_passes", kind: "int", doc: "", required: true, minimum: 1, maximum: 100000 },
    ] },
    weight_optimization: {
      name: "weight_optimization_kwargs", key: "optimization_method", default: "ANALYTIC", doc: "Weights.",
      options: {
        GRAD: { name: "GRAD", doc: "Gradient.", fields: [
          { name: "iterations", kind: "int", doc: "", required: true, minimum: 1, maximum: 1000000 },
          { name: "learning_rate", kind: "float", doc: "", required: true, exclusive_minimum: true },
        ] },
        ADAM: { name: "ADAM", doc: "Adam.", fields: [
          { name: "iterations", kind: "int", doc: "", required: true, minimum: 1, maximum: 1000000 },
          { name: "epsilon", kind: "float", doc: "", required: false, default: "1e-08", exclusive_minimum: true },
          { name: "first_moment_decay", kind: "float", doc: "", required: false, default: 0.9, maximum: 1, exclusive_maximum: true },
        ] },
        ANALYTIC: { name: "ANALYTIC", doc: "Closed form.", fields: [] },
      },
    },
    state: {
      name: "state_kwargs", key: "state_method", default: "NP_EIGH", doc: "States.",
      options: {
        NP_EIGH: { name: "NP_EIGH", doc: "", fields: [
          { name: "normalize_axes", kind: "bool", doc: "", required: false, default: true },
        ] },
        LOBPCG_FAST: { name: "LOBPCG_FAST", doc: "", fields: [
          { name: "normalize_axes", kind: "bool", doc: "", required: false, default: true },
          { name: "tol", kind: "float", doc: "", required: false, default: 0.2, exclusive_minimum: true },
        ] },
      },
    },
  } as Schema;
}

const value = {
  model: { model_name: "pauli", operators: ["x", "y", "z"], qbits: 3, pauli_weight: 2, seed: 7, target_operators: ["z"] },
  batch_size: 50,
  num_passes: 2,
  weight_optimization_kwargs: { optimization_method: "GRAD", iterations: 4, learning_rate: 0.1 },
  state_kwargs: { state_method: "NP_EIGH", normalize_axes: false },
};

test("sections follow the schema: model family, training, optimizer and solver with their fields", () => {
  const sections = buildSections(schema(), value);
  assert.deepEqual(sections.map((s) => [s.id, s.title, s.kind]), [
    ["models", "Model", "models"], ["training", "Training", "params"],
    ["weight_optimization", "Weight optimizer", "choice"], ["state", "State solver", "choice"],
  ]);
  assert.deepEqual(controlKeys(sections), [
    "model.model_name", "model.operators", "model.qbits", "model.pauli_weight", "model.sigma_sq",
    "model.seed", "model.target_operators", "batch_size", "num_passes",
    "weight_optimization_kwargs.optimization_method", "weight_optimization_kwargs.iterations",
    "weight_optimization_kwargs.learning_rate", "state_kwargs.state_method", "state_kwargs.normalize_axes",
  ]);
  const [model, training, weights] = sections;
  assert.equal(model.picker?.selected, "pauli");
  assert.deepEqual(model.picker?.options.map((o) => o.value), ["pauli", "ensemble"]);
  assert.equal(model.doc, "Pauli strings.");
  const qbits = model.controls.find((c) => c.key === "model.qbits")!;
  assert.deepEqual([qbits.widget, qbits.value, qbits.path], ["int", 3, ["model", "qbits"]]);
  assert.deepEqual(model.controls.map((c) => c.widget),
    ["labels", "int", "int", "number_or_map", "int", "labels"]);
  assert.deepEqual(training.controls[0].path, ["batch_size"]);
  assert.equal(weights.picker?.selected, "GRAD");
  assert.equal(weights.doc, "Weights. Gradient.");
});

test("a field added to the schema becomes a control, an unknown kind a JSON box", () => {
  const s = schema() as any;
  s.training.fields.push({ name: "shuffle", kind: "bool", doc: "", required: false, default: false });
  s.state.options.NP_EIGH.fields.push({ name: "shifts", kind: "vector", doc: "", required: false });
  const keys = controlKeys(buildSections(s, value));
  assert.ok(keys.includes("shuffle"));
  const shifts = buildSections(s, value)[3].controls.find((c) => c.key === "state_kwargs.shifts")!;
  assert.equal(shifts.widget, "json");
});

test("missing sections fall back to the schema's defaults and the first family", () => {
  const sections = buildSections(schema(), {});
  assert.equal(sections[0].picker?.selected, "pauli");
  assert.equal(sections[2].picker?.selected, "ANALYTIC");
  assert.equal(sections[2].controls.length, 0);
  assert.equal(sections[3].picker?.selected, "NP_EIGH");
  assert.equal(sections[0].controls[1].value, undefined);
});

test("the shape changes with the family or method, not with a value", () => {
  const a = shapeOf(buildSections(schema(), value), ["x", "y", "z"]);
  const b = shapeOf(buildSections(schema(), setAt(value, ["model", "qbits"], 5)), ["x", "y", "z"]);
  const c = shapeOf(buildSections(schema(), switchFamily(schema(), value, "ensemble")), ["x", "y", "z"]);
  const d = shapeOf(buildSections(schema(), value), ["x", "y"]);
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.notEqual(a, d);
});

test("inputs parse to numbers, maps, labels; bad text is kept for the kernel to name", () => {
  const int = { widget: "int" as const };
  assert.equal(parseInput(int, " 5 "), 5);
  assert.equal(parseInput(int, "2.5"), 2.5);
  assert.equal(parseInput(int, "five"), "five");
  assert.equal(parseInput(int, ""), OMIT);
  assert.equal(parseInput({ widget: "float" }, "1e-08"), 1e-8);
  assert.equal(parseInput({ widget: "float" }, "-.5"), -0.5);
  assert.equal(parseInput({ widget: "float" }, "0x10"), "0x10");
  assert.deepEqual(parseInput({ widget: "number_or_map" }, "x=0.5, y: 2"), { x: 0.5, y: 2 });
  assert.equal(parseInput({ widget: "number_or_map" }, "0.3"), 0.3);
  assert.deepEqual(parseInput({ widget: "map" }, ""), {});
  assert.deepEqual(parseInput({ widget: "map" }, '{"a b": 1}'), { "a b": 1 });
  assert.equal(parseMap("x 1"), "x 1");
  assert.deepEqual(parseMap("x=big"), { x: "big" });
  assert.deepEqual(parseInput({ widget: "labels" }, " x, y ,,z "), ["x", "y", "z"]);
  assert.deepEqual(parseInput({ widget: "json" }, "[1, 2]"), [1, 2]);
  assert.equal(parseInput({ widget: "text" }, " a "), " a ");
});

test("values format back into the text the parser reads", () => {
  assert.equal(formatValue({ widget: "number_or_map" }, { x: 0.5, y: 2 }), "x=0.5, y=2");
  assert.deepEqual(parseInput({ widget: "number_or_map" }, "x=0.5, y=2"), { x: 0.5, y: 2 });
  assert.equal(formatValue({ widget: "map" }, {}), "");
  assert.equal(formatValue({ widget: "labels" }, ["x", "y"]), "x, y");
  assert.equal(formatValue({ widget: "float" }, "1e-08"), "1e-08");
  assert.equal(formatValue({ widget: "int" }, undefined), "");
  assert.equal(formatValue({ widget: "json" }, [1, 2]), "[1,2]");
});

test("the cheap checks say what the kernel says (Field.allowed, %g)", () => {
  assert.equal(formatG(4294967295), "4.29497e+09");
  assert.equal(formatBound(4294967295), "4294967295");
  assert.equal(formatBound(1e-8), "1e-08");
  assert.equal(formatG(1e-8), "1e-08");
  assert.equal(formatG(100000), "100000");
  assert.equal(formatG(1e6), "1e+06");
  assert.equal(formatG(0.999), "0.999");
  const [model, training] = buildSections(schema(), value);
  const qbits = model.controls.find((c) => c.key === "model.qbits")!;
  assert.equal(allowed(qbits.field), "must be an integer >= 1 and <= 8");
  assert.equal(localError(qbits, 9), "model.qbits: got 9; must be an integer >= 1 and <= 8");
  assert.equal(localError(qbits, 2.5), "model.qbits: got 2.5; must be an integer >= 1 and <= 8");
  assert.equal(localError(qbits, "x"), "model.qbits: got 'x'; must be an integer >= 1 and <= 8");
  assert.equal(localError(qbits, 8), null);
  assert.equal(localError(qbits, OMIT), null);
  assert.equal(localError(training.controls[0], OMIT), "batch_size: got None; is required (must be an integer >= 1)");
  const adam = buildSections(schema(), switchOption(schema().weight_optimization as any, value, "ADAM"))[2];
  const decay = adam.controls.find((c) => c.field.name === "first_moment_decay")!;
  assert.match(localError(decay, 1) ?? "", /< 1$/);
  assert.equal(localError(decay, 0.99), null);
  // a cross-field rule is the kernel's: pauli_weight 8 passes here even with qbits 3
  assert.equal(localError(model.controls.find((c) => c.key === "model.pauli_weight")!, 8), null);
});

test("arrow keys step an integer within its bounds", () => {
  const field = { name: "qbits", kind: "int", minimum: 1, maximum: 8, default: 2 };
  assert.equal(stepInt(field, 3, 1), 4);
  assert.equal(stepInt(field, 8, 1), 8);
  assert.equal(stepInt(field, 1, -1), 1);
  assert.equal(stepInt(field, OMIT, 1), 3);
  assert.equal(stepInt({ name: "n", kind: "int", minimum: 0, exclusive_minimum: true }, 1, -1), 1);
});

test("edits copy the value instead of changing it", () => {
  const next = setAt(value, ["model", "qbits"], 4);
  assert.equal(getAt(next, ["model", "qbits"]), 4);
  assert.equal(value.model.qbits, 3);
  const dropped = setAt(value, ["state_kwargs", "normalize_axes"], OMIT);
  assert.ok(!("normalize_axes" in (dropped.state_kwargs as object)));
  assert.deepEqual(setAt({}, ["a", "b"], 1), { a: { b: 1 } });
  assert.equal(getAt(value, ["nope", "deeper"]), undefined);
});

test("switching family keeps the shared fields and drops the others", () => {
  const next = switchFamily(schema(), value, "ensemble");
  assert.deepEqual(next.model, { model_name: "ensemble", operators: ["x", "y", "z"], seed: 7, target_operators: ["z"] });
  assert.equal(next.batch_size, 50);
  const back = switchFamily(schema(), next, "pauli");
  assert.equal((back.model as any).qbits, undefined);
});

test("switching method keeps fields of the same name", () => {
  const choice = schema().weight_optimization as any;
  const adam = switchOption(choice, value, "ADAM");
  assert.deepEqual(adam.weight_optimization_kwargs, { optimization_method: "ADAM", iterations: 4 });
  const analytic = switchOption(choice, adam, "ANALYTIC");
  assert.deepEqual(analytic.weight_optimization_kwargs, { optimization_method: "ANALYTIC" });
});

test("ticking columns keeps the DataFrame's order and leaves unknown names for the kernel", () => {
  const columns = ["a", "b", "c", "d"];
  assert.deepEqual(toggleLabel(["c"], "a", true, columns), ["a", "c"]);
  assert.deepEqual(toggleLabel(["a", "c"], "a", false, columns), ["c"]);
  assert.deepEqual(toggleLabel(["zz", "b"], "d", true, columns), ["b", "d", "zz"]);
  assert.deepEqual(toggleLabel(undefined, "b", true, columns), ["b"]);
});
