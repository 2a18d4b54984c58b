// GFLOP/s of the 3x3 (2D) and 3x3x3 (3D) convs of nnU-Net networks, per conv and in all, from the per-layer
// profiles of `unet bench --json-file` runs: a conv that runs as several steps (Winograd bands: input
// transform, GEMM, output transform) is summed into one, its FLOPs those of the direct conv, so a fast
// algorithm shows as a higher rate. The issue asks 3x3x3 convs to reach the 2D 3x3 convs' GFLOP/s.
//   node bin/unet.js bench --weights RESULTS_2D --sizes 512 --batches 1 --layers 512x1 --json-file 2d.json
//   node bin/unet.js bench --weights RESULTS_3D --sizes 64 --batches 1 --json-file 3d.json
//   node --import tsx bench/nnunet.ts 2d.json 3d.json
import { readFileSync } from 'node:fs';
import type { BenchReport } from '../src/cli/benchTable.js';
import { table } from '../src/cli/benchTime.js';

interface Conv {
  name: string;
  detail: string;
  ms: number;
  flops: number;
}

/** The profile's 3x3 / 3x3x3 convs, their steps summed (a step's label is the conv's name, then the step's part). */
function convs(r: BenchReport): Conv[] {
  const byName = new Map<string, Conv>();
  for (const t of r.profile?.times ?? []) {
    const name = /^(\S*\.conv)(\s|$)/.exec(t.label)?.[1];
    if (!name) continue;
    const c = byName.get(name) ?? { name, detail: '', ms: 0, flops: 0 };
    c.ms += t.ms;
    c.flops += t.flops ?? 0;
    // the GEMM band (or the only step) names the shapes
    if (!c.detail || /gemm/.test(t.label)) c.detail = t.detail;
    byName.set(name, c);
  }
  return [...byName.values()].filter((c) => /k3x3( |x3 )/.test(c.detail));
}

const rate = (flops: number, ms: number) => (flops / 1e6 / ms).toFixed(1);
const shapes = (d: string) => /^\S+ -> \S+ \S+ \S+/.exec(d)?.[0] ?? d;

const files = process.argv.slice(2);
if (!files.length) {
  console.error('usage: node --import tsx bench/nnunet.ts BENCH.json ... (from unet bench --json-file, with a per-layer profile)');
  process.exit(2);
}
const totals: string[][] = [];
for (const file of files) {
  const r = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
  const cs = convs(r);
  if (!cs.length) throw new Error(`${file}: no per-layer profile with 3x3 convs (run unet bench with --layers)`);
  console.log(`${file}: ${r.model.title} at ${r.profile!.config}, ${r.adapter.description} (${r.profile!.method})`);
  console.log(
    table(
      ['conv', 'shapes', 'ms', 'GFLOP', 'GFLOP/s'],
      cs.map((c) => [c.name, shapes(c.detail), c.ms.toFixed(1), (c.flops / 1e9).toFixed(2), rate(c.flops, c.ms)]),
    ),
  );
  console.log('');
  const sum = (sel: Conv[]) => [sel.reduce((s, c) => s + c.flops, 0), sel.reduce((s, c) => s + c.ms, 0)] as const;
  const [f, ms] = sum(cs);
  // stride 1 with more than one input channel: the stem (1 channel in) and the strided convs run otherwise
  const stride1 = cs.filter((c) => / s1(x1x1)? /.test(c.detail) && Number(/^\[\d+,(\d+),/.exec(c.detail)?.[1]) > 1);
  const [f1, ms1] = sum(stride1);
  totals.push([`${r.model.title} ${r.profile!.config}`, String(cs.length), rate(f, ms), rate(f1, ms1)]);
}
console.log(table(['profile', 'convs', 'GFLOP/s all 3x3(x3)', 'GFLOP/s stride 1, C_in > 1'], totals));
