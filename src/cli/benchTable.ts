// What `unet bench` reports (its --json object) and the plain-text tables made from it.
import type { StepTime } from '../compiler/profile.js';
import type { Tuning } from '../compiler/tuning.js';
import type { ModelInfo } from '../model.js';
import { type Stats, table } from './benchTime.js';
import { describeWeightBytes } from '../infoText.js';

/** Warm-ups below this are allowed (slow adapters) but the report says so. */
export const RECOMMENDED_WARMUP = 10;

export interface ConfigResult {
  /** the side of a square image; for a volume, its largest side (the sizes are `spatial`) */
  size: number;
  batch: number;
  /** spatial sizes [D, H, W] of a 3D model's input (a 2D one is size x size) */
  spatial?: number[];
  /** how the size asked for was changed to fit the network (3D sizes are rounded up to its strides) */
  rounded?: string;
  /** model.estimate of one pass (also for a skipped configuration: what it would take) */
  estimate?: { totalBytes: number; arenaBytes: number; largestActivationBytes: number };
  /** why it was not run (it does not fit one pass on this adapter) */
  skipped?: string;
  /** the first run, pipeline compilation included */
  firstMs?: number;
  /** model.run: upload, forward, readback */
  e2e?: Stats;
  /** one forward's compute pass, between its timestamps (adapters with timestamp-query) */
  gpu?: Stats;
  /** forwards back to back on a resident input: between consecutive starts (timestamps), else between
   *  consecutive ends as the CPU sees them */
  throughput?: Stats;
  throughputMeanMs?: number;
  /** 2 x multiply-adds of one forward */
  gflop?: number;
  arenaBytes?: number;
  unsharedBytes?: number;
  /** model.gpuMemory().totalBytes with this configuration's plan compiled: weights + activations + I/O buffers */
  gpuBytes?: number;
  /** vs PyTorch; maxRel = maxAbs / max(1, max |PyTorch|) */
  check?: { maxAbs: number; maxRel?: number; maskAgreement: number } | string;
  /** PyTorch on the CPU, interleaved with the end-to-end runs */
  torch?: Stats;
  f16?: { e2e: Stats; maxAbsVsF32: number; maskAgreementVsF32: number; speedupVsF32: number };
}

export interface BenchReport {
  engine: string;
  adapter: { description: string; vendor: string; architecture: string; device: string; timestampQuery: boolean };
  dawn: { package: string; version: string };
  model: Omit<ModelInfo, 'metadata'> & { metadata?: undefined; loadMs: number };
  /** device: 'cpu' or the CUDA device's name */
  torch?: { version: string; device: string; threads: number };
  tuning: Tuning;
  runs: number;
  warmup: number;
  configs: ConfigResult[];
  profile?: { config: string; method: string; times: StepTime[] };
}

/** Whether outputs are labelled by their argmax over channels (class logits or probabilities) rather than each
 *  thresholded at 0.5 (one output, or sigmoid masks). */
export const argmaxLabels = (i: Pick<ModelInfo, 'classes' | 'activation'>) => i.classes > 1 && i.activation !== 'sigmoid';

/** "1x3x256x256", "1x1x64x64x64": the input's shape */
export const inputName = (c: Pick<ConfigResult, 'size' | 'batch' | 'spatial'>, channels: number) =>
  `${c.batch}x${channels}x${(c.spatial ?? [c.size, c.size]).join('x')}`;

const mib = (b?: number) => (b === undefined ? '' : `${(b / 2 ** 20).toFixed(1)}`);
/** Milliseconds with about three significant digits (0.412, 5.63, 48.1, 1384). */
export const ms = (x: number | undefined) => (x === undefined ? '' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
/** "median (p10–p90)" */
export const spread = (s: Stats | undefined) => (s ? (s.n > 1 ? `${ms(s.median)} (${ms(s.p10)}–${ms(s.p90)})` : ms(s.median)) : '');
const rate = (gflop: number | undefined, s: Stats | undefined) => (gflop !== undefined && s ? (gflop / (s.median / 1000)).toFixed(1) : '');

export function formatBench(r: BenchReport): string {
  const out: string[] = [];
  const i = r.model;
  const a = r.adapter;
  out.push(`${r.engine} on ${a.description || a.vendor}`);
  out.push(
    `adapter: vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, device ${a.device || '?'}; driver: ${a.description || '?'}; Dawn: ${r.dawn.package} ${r.dawn.version}`,
  );
  out.push(
    `model: ${i.title}, ${i.inChannels} -> ${i.classes} ${i.activation}, depth ${i.depth}, ${i.precision}, ${(i.parameters / 1e6).toFixed(2)} M parameters, weights on the GPU ${describeWeightBytes(i)}`,
  );
  const few = r.warmup < RECOMMENDED_WARMUP ? ` (fewer than the ${RECOMMENDED_WARMUP} recommended, by --warmup: first runs may still be warming up)` : '';
  out.push(`timing: median (p10–p90) of ${r.runs} runs after ${r.warmup} warm-ups${few}; first = first run incl. compilation`);
  out.push(
    `  GPU = timestamps around the forward's compute pass${a.timestampQuery ? '' : ' (not measured: the adapter has no timestamp-query)'}; ` +
      `throughput = ${r.runs} forwards back to back, input on the GPU, between consecutive ${a.timestampQuery ? 'starts' : 'ends (seen on the CPU)'}; ` +
      'e2e = model.run (upload, forward, readback); GFLOP/s counts 2 per multiply-add',
  );
  out.push(
    `kernels: conv2d ${JSON.stringify(r.tuning.conv2d)}, convTranspose2x2 ${JSON.stringify(r.tuning.convTranspose2x2)}` +
      (i.dims === 3 && r.tuning.conv3d ? `, conv3d ${JSON.stringify(r.tuning.conv3d)}` : ''),
  );
  const torchOn = r.torch?.device === 'cpu' ? `CPU, ${r.torch.threads} threads` : `${r.torch?.device} (f32, TF32 off; input resident, synchronized)`;
  out.push(r.torch ? `PyTorch ${r.torch.version} ${torchOn}, same weights and inputs, its runs interleaved with the e2e runs` : 'PyTorch: not run');
  out.push('');
  const name = (c: ConfigResult) => inputName(c, i.inChannels);
  const head = ['input', 'first ms', 'GPU ms', 'throughput ms', 'e2e ms', 'GFLOP', 'GFLOP/s GPU', 'GFLOP/s e2e', 'torch ms', 'torch/e2e'];
  const rows = r.configs.map((c) => {
    if (c.skipped) return [name(c), `skipped: ${c.skipped}`];
    const ratio = c.torch && c.e2e ? `${(c.torch.median / c.e2e.median).toFixed(2)}x` : '';
    return [
      name(c),
      ms(c.firstMs),
      spread(c.gpu),
      spread(c.throughput),
      spread(c.e2e),
      c.gflop?.toFixed(2) ?? '',
      rate(c.gflop, c.gpu),
      rate(c.gflop, c.e2e),
      spread(c.torch),
      ratio,
    ];
  });
  out.push(table(head, rows));
  for (const note of new Set(r.configs.map((c) => c.rounded))) if (note) out.push(`--sizes ${note}`);
  for (const c of r.configs) {
    if (!c.skipped || !c.estimate) continue;
    const e = c.estimate;
    out.push(
      `${name(c)}: model.estimate: largest activation ${mib(e.largestActivationBytes)} MiB, arena ${mib(e.arenaBytes)} MiB, in all ${mib(e.totalBytes)} MiB (weights apart)`,
    );
  }
  const ran = r.configs.filter((c) => !c.skipped);
  if (ran.length) {
    out.push('');
    out.push(
      `rel |Δ| = max |Δ| / max(1, max |torch|); ${argmaxLabels(i) ? 'argmax agree = positions with the same argmax over the channels' : 'mask agree = positions on the same side of 0.5'}; ` +
        'GPU MiB = model.gpuMemory() with this plan compiled (weights, activations, input / output / readback)',
    );
    out.push(
      table(
        ['input', 'arena MiB', 'no-reuse MiB', 'max |Δ| vs torch', argmaxLabels(i) ? 'argmax agree' : 'mask agree', 'rel |Δ|', 'GPU MiB'],
        ran.map((c) => {
          const chk = typeof c.check === 'object' ? c.check : undefined;
          return [
            name(c),
            mib(c.arenaBytes),
            mib(c.unsharedBytes),
            chk ? chk.maxAbs.toExponential(1) : String(c.check ?? ''),
            chk ? `${(chk.maskAgreement * 100).toFixed(3)}%` : '',
            chk?.maxRel !== undefined ? chk.maxRel.toExponential(1) : '',
            mib(c.gpuBytes),
          ];
        }),
      ),
    );
  }
  const f16 = r.configs.filter((c) => c.f16);
  if (f16.length) {
    out.push('', "precision 'f16' (weights and activations stored as f16, sums in f32), end to end, vs the f32 engine output:");
    out.push(
      table(
        ['input', 'e2e ms', 'f32/f16', 'max |Δ| vs f32', 'mask agree'],
        f16.map((c) => [
          name(c),
          spread(c.f16!.e2e),
          `${c.f16!.speedupVsF32.toFixed(2)}x`,
          c.f16!.maxAbsVsF32.toExponential(1),
          `${(c.f16!.maskAgreementVsF32 * 100).toFixed(3)}%`,
        ]),
      ),
    );
  }
  if (r.profile) {
    const total = r.profile.times.reduce((s, t) => s + t.ms, 0);
    out.push('', `per layer at ${r.profile.config} (${r.profile.method}, median of 3): ${total.toFixed(0)} ms in all`);
    out.push(
      table(
        ['step', 'shapes', 'ms', 'GFLOP/s', 'GB/s', 'share'],
        r.profile.times.map((t) => [
          t.label,
          t.detail,
          t.ms.toFixed(2),
          t.flops ? (t.flops / 1e6 / t.ms).toFixed(1) : '',
          t.bytes ? (t.bytes / 1e6 / t.ms).toFixed(1) : '',
          `${((t.ms / total) * 100).toFixed(1)}%`,
        ]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}
