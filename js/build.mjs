// Bundles every widget entry (js/src/widgets/<name>.ts) into qwidgets/static/<name>.js as an
// ES module, the form anywidget loads. The marker file lets the Python build hook know the
// bundles are fresh (hatch-jupyter-builder `ensured-targets`).
import { build } from "esbuild";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const widgets = join(here, "src", "widgets");
const out = join(here, "..", "qwidgets", "static");
const dev = process.argv.includes("--dev");

const entries = existsSync(widgets)
  ? readdirSync(widgets).filter((f) => f.endsWith(".ts")).map((f) => join(widgets, f))
  : [];

// The runtime of the offline HTML export (qwidgets/export.py inlines it in every page).
const runtime = join(here, "src", "export", "export_runtime.ts");
if (existsSync(runtime)) entries.push(runtime);

mkdirSync(out, { recursive: true });
if (entries.length) {
  await build({
    entryPoints: entries,
    bundle: true,
    format: "esm",
    target: "es2020",
    minify: !dev,
    sourcemap: dev ? "inline" : false,
    outdir: out,
    entryNames: "[name]",
    logLevel: "info",
  });
}
writeFileSync(join(out, ".built"), `${entries.length} bundle(s)\n`);
