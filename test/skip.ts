// uvu has no run-time skip: a test that returns early is counted as passed. skip(reason) prints one line,
// `  SKIP: <reason>`, and .ci/run moves each such line from "passed" to "skipped" in its closing summary and
// lists the reasons, so a skip is reported as a skip. Use it as `return skip('no shader-f16 on this adapter')`.
export function skip(reason: string): void {
  // on a line of its own: uvu prints a suite's name and its progress marks without a line break
  console.log(`\n  SKIP: ${reason.replace(/\s*\n\s*/g, ' ')}`);
}
