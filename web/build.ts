// The browser builds (`npm run build` runs this after tsc):
//   dist/webgpu-unet.js   the public API (src/index.ts) as one ESM file, types in dist/webgpu-unet.d.ts
//   dist/web/app.js       the demo page's script (web/app.ts: the page, no engine)
//   dist/web/worker.js    the demo page's worker (web/worker.ts with the engine inside)
// and checks that neither pulls in Node: no `node:` module, no `webgpu` package (Dawn), no Node entry.
import { build, type Metafile } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

// The package ships no source maps (README, "Installing the package"): the library bundle is built
// without one; the demo page's bundles (dist/web, left out of the package) keep theirs for debugging.
const BUNDLES = [
  { entry: 'src/index.ts', outfile: 'dist/webgpu-unet.js', sourcemap: false },
  { entry: 'web/app.ts', outfile: 'dist/web/app.js', sourcemap: true },
  { entry: 'web/worker.ts', outfile: 'dist/web/worker.js', sourcemap: true },
];

/** Inputs that must never reach a browser bundle. */
const NODE_ONLY = [/^node:/, /node_modules\/webgpu\//, /^src\/node\.ts$/, /^src\/gpu\/node\.ts$/, /^src\/cli\//];
/** Node-isms in the output text that a resolved bundle should not contain. */
const NODE_TEXT = [/\bfrom\s*["']node:/, /\bimport\s*\(\s*["']node:/, /\brequire\s*\(/, /\bfrom\s*["']webgpu["']/];

function check(outfile: string, meta: Metafile): string[] {
  const problems: string[] = [];
  for (const input of Object.keys(meta.inputs)) {
    if (NODE_ONLY.some((re) => re.test(input))) problems.push(`bundles the Node-only module ${input}`);
  }
  const out = meta.outputs[outfile];
  for (const imp of out?.imports ?? []) problems.push(`imports ${imp.path} at run time (${imp.kind})`);
  const text = readFileSync(outfile, 'utf8');
  for (const re of NODE_TEXT) {
    const m = re.exec(text);
    if (m) problems.push(`contains \`${m[0]}\``);
  }
  return problems;
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

let failed = false;
for (const { entry, outfile, sourcemap } of BUNDLES) {
  const result = await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap,
    metafile: true,
    logLevel: 'warning',
  });
  const problems = check(outfile, result.metafile);
  const bytes = readFileSync(outfile);
  const modules = Object.keys(result.metafile.inputs).length;
  // stderr: the build runs inside `npm pack --json`, whose stdout must stay JSON
  console.error(
    `${outfile}  ${kib(bytes.length)} (gzip ${kib(gzipSync(bytes).length)}), ${modules} modules from ${entry}` + (problems.length ? '' : ', no Node imports'),
  );
  for (const p of problems) console.error(`  ${outfile}: ${p}`);
  failed ||= problems.length > 0;
}
// Types for the bundle: the same declarations tsc wrote for src/index.ts.
writeFileSync('dist/webgpu-unet.d.ts', "export * from './index.js';\n");

if (failed) {
  console.error('browser build: a bundle reaches Node-only code (see above); src/index.ts must stay browser-safe');
  process.exit(1);
}
