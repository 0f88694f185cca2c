// JS unit tests of pure logic: bundle each js/test/*.test.ts with esbuild, run with node --test.
import { build } from "esbuild";
import { readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tests = readdirSync(join(here, "test")).filter((f) => f.endsWith(".test.ts"));
if (!tests.length) { console.error("no JS tests found in js/test/"); process.exit(5); }
const out = join(here, ".test-build");
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: tests.map((f) => join(here, "test", f)),
  bundle: true, platform: "node", format: "esm", target: "node18", outdir: out,
  outExtension: { ".js": ".mjs" }, logLevel: "warning",
});
const files = readdirSync(out).filter((f) => f.endsWith(".mjs")).map((f) => join(out, f));
const run = spawnSync(process.execPath, ["--test", ...files], { stdio: "inherit" });
process.exit(run.status ?? 1);
