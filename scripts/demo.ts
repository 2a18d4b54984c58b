// `npm run demo`: the engine end to end on a fresh checkout, offline.
//  1. `unet info`: the WebGPU adapter.
//  2. `unet segment` of the bundled held-out samples (assets/demo: a U-Net trained by tools/train_demo.py on
//     SYNTHETIC fluorescence-microscopy nuclei), then per image the IoU against the true mask and the pixel
//     agreement with PyTorch's own masks.
//  3. `unet convert` of a PyTorch checkpoint, then `unet infer`, against PyTorch's output.
//  4. `unet infer` of each bundled PyTorch fixture (test/fixtures) and its max error vs PyTorch.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { decodeImage } from '../src/io/image.js';
import { parseSafetensors } from '../src/weights/safetensors.js';

const DEMO = 'assets/demo';
const OUT = 'out/demo';
const FIXTURES = ['b2_rgb', 'gray', 'out2', 'nonsquare_f6', 'f5_odd'];
const BOUND = 2e-5;
const MIN_IOU = 0.9;
const MIN_AGREEMENT = 0.999;

/** Runs `unet ARGS`; its stdout is shown (or returned), stderr shown without Dawn's adapter warnings. */
function unet(args: string[], capture = false): string {
  console.log(`$ unet ${args.join(' ')}`);
  try {
    const r = spawnSync(process.execPath, ['bin/unet.js', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.status !== 0) throw Object.assign(new Error(r.stderr), r);
    if (!capture) process.stdout.write(r.stdout);
    if (!capture && quiet(r.stderr)) console.log(quiet(r.stderr));
    return r.stdout;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    process.stdout.write(err.stdout ?? '');
    console.log(quiet(err.stderr ?? String(e)));
    throw new Error(`unet ${args[0]} failed`);
  }
}
const quiet = (s: string) =>
  s
    .split('\n')
    .filter((l) => l && !/^Warning: /.test(l))
    .join('\n');
const readMask = (path: string) => decodeImage(readFileSync(path)).data.map((v) => (v > 127 ? 1 : 0));
const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

let ok = true;
mkdirSync(OUT, { recursive: true });

const info = JSON.parse(unet(['info', '--json'], true));
console.log(`adapter: ${info.description || info.vendor} (${info.architecture || 'unknown architecture'})\n`);

// 2. the demo model on its held-out samples
const meta = parseSafetensors(readFileSync(`${DEMO}/nuclei_unet.safetensors`)).metadata;
console.log(`demo model: ${meta.description}`);
unet(['segment', `${DEMO}/samples`, '--weights', `${DEMO}/nuclei_unet.safetensors`, '--out-dir', OUT]);
console.log(`\n${'image'.padEnd(16)} ${'IoU vs truth'.padStart(12)}   agreement with PyTorch's masks`);
for (const file of readdirSync(`${DEMO}/samples`)
  .filter((f) => f.endsWith('.png'))
  .sort()) {
  const name = file.replace(/\.png$/, '');
  const got = readMask(`${OUT}/${name}_mask.png`);
  const truth = readMask(`${DEMO}/truth/${file}`);
  const torch = readMask(`${DEMO}/torch/${file}`);
  let inter = 0;
  let union = 0;
  let agree = 0;
  for (let i = 0; i < got.length; i++) {
    inter += got[i] & truth[i];
    union += got[i] | truth[i];
    agree += Number(got[i] === torch[i]);
  }
  const iou = union ? inter / union : 1;
  const agreement = agree / got.length;
  const flag = iou >= MIN_IOU && agreement >= MIN_AGREEMENT ? '' : '  <-- below expectation';
  const differ = `${pct(agreement)} (${got.length - agree} of ${got.length} px differ)`;
  console.log(`${file.padEnd(16)} ${iou.toFixed(4).padStart(12)}   ${differ}${flag}`);
  ok &&= !flag;
}
console.log(`masks and overlays: ${OUT}/ (*_mask.png, *_overlay.png)\n`);

// 3. a PyTorch checkpoint (legacy torch.save format, like the published brain-MRI weights) converted and run
const ckpt = 'test/fixtures/checkpoints';
unet(['convert', `${ckpt}/unet_legacy.pt`, '-o', `${OUT}/converted.safetensors`]);
execFileSync(
  process.execPath,
  [
    'bin/unet.js',
    'infer',
    '--weights',
    `${OUT}/converted.safetensors`,
    '--input',
    `${ckpt}/unet.io.safetensors`,
    '--out',
    `${OUT}/converted.output.safetensors`,
  ],
  { stdio: 'ignore' },
);
{
  const got = parseSafetensors(readFileSync(`${OUT}/converted.output.safetensors`)).getF32('output');
  const want = parseSafetensors(readFileSync(`${ckpt}/unet.io.safetensors`)).getF32('output');
  const maxAbs = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  console.log(`converted checkpoint, unet infer vs PyTorch: max |diff| ${maxAbs.toExponential(2)} (bound ${BOUND}) ${maxAbs <= BOUND ? 'ok' : 'MISMATCH'}\n`);
  ok &&= maxAbs <= BOUND;
}

// 4. the PyTorch parity fixtures
const results: string[] = [];
for (const name of FIXTURES) {
  const out = `${OUT}/${name}.output.safetensors`;
  execFileSync(
    process.execPath,
    ['bin/unet.js', 'infer', '--weights', `test/fixtures/${name}.weights.safetensors`, '--input', `test/fixtures/${name}.io.safetensors`, '--out', out],
    { stdio: 'ignore' },
  );
  const got = parseSafetensors(readFileSync(out)).getF32('output');
  const want = parseSafetensors(readFileSync(`test/fixtures/${name}.io.safetensors`)).getF32('output');
  const maxAbs = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  results.push(`${name} ${maxAbs.toExponential(1)}`);
  ok &&= maxAbs <= BOUND;
}
console.log(`PyTorch parity fixtures (unet infer, max |diff|, bound ${BOUND}): ${results.join(', ')}`);
console.log(ok ? '\nall checks passed' : '\nCHECK FAILED: see above');
process.exit(ok ? 0 : 1);
