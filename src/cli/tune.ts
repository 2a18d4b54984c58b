// `unet tune`: measures every candidate configuration of the conv kernels on the model's real layers on
// this adapter, keeps the fastest per layer, and caches the result for this adapter and architecture
// (later `loadModel` calls pick it up; model.info.tuning says 'measured').
import { adapterOf } from '../gpu/device.js';
import { describeTile, fitWinograd, storeTuning, tuneGraph } from '../compiler/tune.js';
import { tuningFor } from '../compiler/tuning.js';
import { randomUNetSafetensors } from '../arch/random.js';
import { architectureKey } from '../load.js';
import { describeDevice, getDevice, releaseGpu } from '../node.js';
import { parseCommandArgs } from './args.js';
import { weightsHelp, openModel, readWeightsArg } from './model.js';
import { UsageError } from './errors.js';

export const TUNE_USAGE = `Usage: unet tune [--weights W] [--size 256] [--reps 3] [--precision f32|f16] [--json]

Runs each candidate configuration of the conv kernels (direct tile shapes and workgroup sizes, Winograd
F(2x2,3x3) and F(4x4,3x3) with their GEMM tiles; weights by load or by subgroup broadcast where the
adapter allows) on the U-Net's layers at SIZExSIZE, timed per layer on the GPU, and stores the fastest per
layer in the cache ($WEBGPU_UNET_CACHE, else ~/.cache/webgpu-unet), keyed by adapter, architecture and
precision. Models loaded later on this adapter with that precision use it.

Options:
  --weights PATH   ${weightsHelp(19)}:
                   the model whose architecture to tune (default: the brain-MRI U-Net's, 3 -> 1, 32)
  --size N         input size to measure at (default 256)
  --reps N         timed repetitions per candidate (default 3)
  --precision P    f32 (default) or f16 (storage; needs shader-f16): tune as models of that precision run
  --dry-run        measure and print, but do not store
  --json           print the per-layer results as JSON
  -h, --help       show this help
`;

const OPTIONS = {
  weights: { type: 'string' },
  size: { type: 'string', default: '256' },
  reps: { type: 'string', default: '3' },
  precision: { type: 'string', default: 'f32' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function tune(args: string[]): Promise<number> {
  const v = parseCommandArgs('tune', args, OPTIONS);
  if (v.help) {
    process.stdout.write(TUNE_USAGE);
    return 0;
  }
  const size = Number(v.size);
  const reps = Number(v.reps);
  if (!Number.isInteger(size) || size < 16) throw new UsageError(`tune: --size must be an integer >= 16, found ${JSON.stringify(v.size)}`);
  if (!Number.isInteger(reps) || reps < 1) throw new UsageError(`tune: --reps must be a positive integer, found ${JSON.stringify(v.reps)}`);
  const precision = v.precision;
  if (precision !== 'f32' && precision !== 'f16') throw new UsageError(`tune: --precision must be f32 or f16, found ${JSON.stringify(v.precision)}`);
  const source = v.weights ? await readWeightsArg(v.weights) : { weights: randomUNetSafetensors(), name: 'random weights' };
  const device = await getDevice();
  const adapter = adapterOf(device);
  const model = await openModel(device, source, { tuning: tuningFor(device, adapter), precision }, (line) => process.stderr.write(`${line}\n`));
  const shape: [number, number, number, number] = [1, model.info.inChannels, size, size];
  const t0 = performance.now();
  const result = await tuneGraph(
    device,
    adapter,
    model.graph,
    shape,
    fitWinograd(tuningFor(device, adapter), model.graph),
    reps,
    (m) => process.stderr.write(`tune: ${m}\n`),
    undefined,
    precision === 'f16',
  );
  const seconds = (performance.now() - t0) / 1000;
  const arch = architectureKey(model.info, precision);
  const where = v['dry-run'] ? undefined : await storeTuning(adapter, arch, result.tuning);

  if (v.json) {
    process.stdout.write(
      `${JSON.stringify({ adapter: describeDevice(device).description, architecture: arch, inputShape: shape, seconds, stored: where, tuning: result.tuning, layers: result.layers }, null, 1)}\n`,
    );
  } else {
    const lines = [
      `adapter: ${describeDevice(device).description}`,
      `architecture: ${arch}, measured at [${shape}], ${reps} reps, ${seconds.toFixed(0)} s`,
      '',
    ];
    const w = Math.max(...result.layers.map((l) => l.key.length));
    lines.push(`${'layer'.padEnd(w)}  ${'default ms'.padStart(10)}  ${'best ms'.padStart(8)}  best configuration`);
    for (const l of result.layers) lines.push(`${l.key.padEnd(w)}  ${l.baselineMs.toFixed(2).padStart(10)}  ${l.bestMs.toFixed(2).padStart(8)}  ${l.variant}`);
    const base = result.layers.reduce((s, l) => s + l.baselineMs, 0);
    const best = result.layers.reduce((s, l) => s + l.bestMs, 0);
    lines.push('', `conv layers: ${base.toFixed(1)} ms with the defaults, ${best.toFixed(1)} ms tuned (${(base / best).toFixed(2)}x)`);
    lines.push(
      `defaults now: conv2d ${describeTile(result.tuning.conv2d)}, convTranspose2x2 ${describeTile(result.tuning.convTranspose2x2)}; ${Object.keys(result.tuning.layers ?? {}).length} layers differ`,
    );
    lines.push(where ? `stored in ${where}` : 'not stored (--dry-run)');
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  model.dispose();
  device.destroy();
  releaseGpu();
  return 0;
}
