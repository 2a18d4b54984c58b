// `unet bench`: end-to-end forward time of the U-Net at several sizes and batches, per-layer GPU times,
// time to first result, memory, and the same forward in PyTorch on the CPU when /usr/bin/python3 has
// torch, timed in the same run. Every output is checked against PyTorch's before it is timed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { adapterOf } from '../gpu/device.js';
import { profileSteps, type StepTime } from '../graph/profile.js';
import { DEFAULT_TUNING, type Tuning, tuningFor } from '../graph/tuning.js';
import { cachedTuning } from '../graph/tune.js';
import { buildModel } from '../arch/index.js';
import { architectureKey, readModelSource } from '../load.js';
import { readModelArg } from './files.js';
import { randomUNetSafetensors } from '../weights/random.js';
import { describeDevice, getDevice, loadModel, parseSafetensors, releaseGpu, writeSafetensors, type Model } from '../node.js';
import { parseCommandArgs } from './args.js';
import { UsageError } from './errors.js';
import { ENGINE_NAME, ENGINE_VERSION } from './package.js';

export const BENCH_USAGE = `Usage: unet bench [options]

Times the U-Net forward (upload, all kernels, readback) at each size and batch: median and p90 of
--runs after --warmup runs, the first run (pipeline compilation included) separately, GFLOP/s, memory,
and per-layer GPU times at one configuration. With PyTorch at /usr/bin/python3 (and tools/ of a source
checkout) the same forward runs on the CPU in the same session, its output is the reference every
engine output is checked against, and the ratio is printed.

Options:
  --weights PATH     model: a safetensors state_dict or an smp save_pretrained folder (config.json +
                     model.safetensors); default: brain U-Net, random weights, init_features 32, 3 -> 1
  --sizes LIST       square input sizes (default 128,256,512)
  --batches LIST     batch sizes (default 1,4)
  --runs N           timed runs per configuration (default 5)
  --warmup N         untimed runs before them (default 2)
  --layers SIZExN    configuration profiled per layer (default 256x1; "none" to skip)
  --threads N        PyTorch CPU threads (default 2)
  --f16              also time precision 'f16' and report its error vs the f32 engine output
  --no-torch         skip PyTorch
  --reference PATH   PyTorch outputs to check against: written here when PyTorch runs, read from here
                     when it does not (e.g. on a machine without PyTorch; same weights, sizes and batches)
  --tuning NAME      kernel variants: auto (picked for the adapter, default), portable (no optional
                     feature), subgroup (weights shared by subgroup broadcast), measured (what
                     \`unet tune\` stored for this adapter and architecture)
  --json             print one JSON object instead of the tables
  -h, --help         show this help
`;

const OPTIONS = {
  weights: { type: 'string' },
  sizes: { type: 'string', default: '128,256,512' },
  batches: { type: 'string', default: '1,4' },
  runs: { type: 'string', default: '5' },
  warmup: { type: 'string', default: '2' },
  layers: { type: 'string', default: '256x1' },
  threads: { type: 'string', default: '2' },
  'no-torch': { type: 'boolean' },
  f16: { type: 'boolean' },
  reference: { type: 'string' },
  tuning: { type: 'string', default: 'auto' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Largest |engine - PyTorch| accepted on the sigmoid output before timing (PyTorch runs in f32 too). */
const BOUND = 1e-4;

interface ConfigResult {
  size: number;
  batch: number;
  skipped?: string;
  firstMs?: number;
  medianMs?: number;
  p90Ms?: number;
  gflop?: number;
  gflops?: number;
  arenaBytes?: number;
  unsharedBytes?: number;
  check?: { maxAbs: number; maskAgreement: number } | string;
  torch?: { medianMs: number; p90Ms: number };
  speedupVsTorch?: number;
  f16?: { medianMs: number; p90Ms: number; maxAbsVsF32: number; maskAgreementVsF32: number; speedupVsF32: number };
}

const intList = (flag: string, s: string) =>
  s.split(',').map((v) => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`bench: --${flag} takes positive integers separated by commas, found ${JSON.stringify(s)}`);
    return Number(v);
  });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.9) - 1)];

/** Seeded input with the statistics of a normalized image. */
function input(n: number, c: number, s: number, seed: number): Float32Array {
  // image-like: a smooth field (a few seeded waves per channel) plus a little noise, about unit scale.
  // Pure noise is no image, and deep random-weight networks (EfficientNet's squeeze-excite stacks) can
  // be so ill-conditioned on it that PyTorch's own f32 forward is 0.5 away from its f64 one.
  let a = seed >>> 0;
  const rand = () => ((a = (Math.imul(a, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const x = new Float32Array(n * c * s * s);
  for (let b = 0; b < n * c; b++) {
    const [fy, fx, py, px] = [1 + 3 * rand(), 1 + 3 * rand(), 6.28 * rand(), 6.28 * rand()];
    for (let y = 0; y < s; y++) {
      for (let i = 0; i < s; i++) {
        x[(b * s + y) * s + i] = Math.sin((fy * 6.28 * y) / s + py) * Math.cos((fx * 6.28 * i) / s + px) + 0.3 * (rand() - 0.5);
      }
    }
  }
  return x;
}

function hasTorch(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function bench(args: string[]): Promise<number> {
  const v = parseCommandArgs('bench', args, OPTIONS);
  if (v.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const sizes = intList('sizes', v.sizes!);
  const batches = intList('batches', v.batches!);
  const [runs] = intList('runs', v.runs!);
  const warmup = v.warmup === '0' ? 0 : intList('warmup', v.warmup!)[0];
  const [threads] = intList('threads', v.threads!);
  const layers = v.layers === 'none' ? undefined : /^(\d+)x(\d+)$/.exec(v.layers!)?.slice(1).map(Number);
  if (v.layers !== 'none' && !layers) throw new UsageError(`bench: --layers takes SIZExBATCH (e.g. 256x1) or none, found ${JSON.stringify(v.layers)}`);
  const log = (s: string) => process.stderr.write(`${s}\n`);

  if (!['auto', 'portable', 'subgroup', 'measured'].includes(v.tuning!)) throw new UsageError(`bench: --tuning is auto, portable, subgroup or measured, found ${JSON.stringify(v.tuning)}`);
  const source = v.weights ? readModelArg(v.weights) : { weights: randomUNetSafetensors({ seed: 1 }), name: 'random weights' };
  const weightBytes = source.weights;
  const device = await getDevice();
  const adapter = describeDevice(device);
  const auto = tuningFor(device, adapterOf(device));
  let tuning = v.tuning === 'portable' ? DEFAULT_TUNING : auto;
  if (v.tuning === 'measured') {
    const { bytes, config, source: name } = await readModelSource(source);
    const measured = await cachedTuning(adapterOf(device), architectureKey(buildModel(parseSafetensors(bytes, name), config).info));
    if (!measured) throw new UsageError('bench: --tuning measured: no tuning stored for this adapter and architecture (run unet tune first)');
    tuning = measured;
  }
  if (v.tuning === 'subgroup' && auto.conv2d.weights !== 'subgroup') throw new UsageError('bench: --tuning subgroup needs an adapter with subgroups of one fixed size');
  const tDevice = performance.now();
  const model = await loadModel(device, source, { tuning });
  const loadMs = performance.now() - tDevice;
  if (v.f16 && !device.features.has('shader-f16')) throw new UsageError('bench: --f16 needs the shader-f16 feature, which this adapter lacks');
  const model16 = v.f16 ? await loadModel(device, source, { tuning, precision: 'f16' }) : undefined;
  const { inChannels: C } = model.info;
  const configs: ConfigResult[] = [];
  for (const size of sizes) for (const batch of batches) configs.push({ size, batch });
  const key = (c: ConfigResult) => `${c.size}x${c.size}_b${c.batch}`;

  // Which configurations fit this adapter in one pass (the big ones need tiles, which come later).
  for (const c of configs) {
    try {
      model.plan([c.batch, C, c.size, c.size]);
    } catch (e) {
      c.skipped = (e as Error).message;
    }
  }

  // PyTorch first, so the two never compete for the CPU. Its script lives in tools/, which only a source
  // checkout has (the npm package ships dist/ and bin/).
  const script = fileURLToPath(new URL('../../tools/torch_bench.py', import.meta.url));
  const haveScript = existsSync(script);
  const useTorch = !v['no-torch'] && haveScript && hasTorch();
  let torchOut: ReturnType<typeof parseSafetensors> | undefined;
  let torchVersion: string | undefined;
  if (useTorch) {
    const dir = mkdtempSync(join(tmpdir(), 'unet-bench-'));
    try {
      const inputs: Record<string, { shape: number[]; data: Float32Array }> = {};
      // skipped ones too when saving a reference: another adapter may take them in one pass
      configs.forEach((c, i) => {
        if (!c.skipped || v.reference) inputs[`input_${key(c)}`] = { shape: [c.batch, C, c.size, c.size], data: input(c.batch, C, c.size, 1000 + i) };
      });
      // the brain U-Net is rebuilt by tools/unet_model.py from a state_dict; smp models by
      // tools/smp_unet.py from a save_pretrained folder (or a bare state_dict)
      const smp = model.info.architecture === 'smp-unet';
      writeFileSync(join(dir, smp ? 'model.safetensors' : 'w.safetensors'), weightBytes);
      if (smp && 'config' in source && source.config !== undefined) writeFileSync(join(dir, 'config.json'), source.config);
      const modelArgs = smp ? ['--smp', 'config' in source && source.config !== undefined ? dir : join(dir, 'model.safetensors')] : ['--weights', join(dir, 'w.safetensors')];
      writeFileSync(join(dir, 'x.safetensors'), writeSafetensors(inputs));
      log(`PyTorch (CPU, ${threads} threads): ${Object.keys(inputs).length} configurations, ${warmup} warm-ups + ${runs} runs each...`);
      const r = spawnSync('/usr/bin/python3', [script, ...modelArgs, '--inputs', join(dir, 'x.safetensors'), '--out', join(dir, 'y.safetensors'), '--runs', String(runs), '--warmup', String(warmup), '--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`tools/torch_bench.py failed (exit ${r.status})`);
      const res = JSON.parse(r.stdout) as { torch_version: string; results: Record<string, { median_ms: number; p90_ms: number }> };
      torchVersion = res.torch_version;
      for (const c of configs) {
        const t = res.results[`input_${key(c)}`];
        if (t) c.torch = { medianMs: t.median_ms, p90Ms: t.p90_ms };
      }
      torchOut = parseSafetensors(readFileSync(join(dir, 'y.safetensors')), 'PyTorch outputs');
      if (v.reference) writeFileSync(v.reference, readFileSync(join(dir, 'y.safetensors')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else if (v.reference) {
    torchOut = parseSafetensors(readFileSync(v.reference), v.reference);
    log(`PyTorch not run: outputs checked against ${v.reference}`);
  } else {
    let why = 'no PyTorch at /usr/bin/python3 (Debian: apt-get install python3-torch)';
    if (v['no-torch']) why = 'PyTorch skipped (--no-torch)';
    else if (!haveScript) why = 'the PyTorch comparison is only available from a source checkout of webgpu-unet (it runs tools/torch_bench.py)';
    log(`${why}: outputs are not checked`);
  }

  for (const [i, c] of configs.entries()) {
    if (c.skipped) continue;
    const shape = [c.batch, C, c.size, c.size];
    const x = { data: input(c.batch, C, c.size, 1000 + i), shape };
    log(`engine ${key(c)}: first run, check, ${warmup} warm-ups + ${runs} runs...`);
    const t0 = performance.now();
    const y = await model.run(x);
    c.firstMs = performance.now() - t0;
    if (torchOut?.tensors.has(`output_${key(c)}`)) c.check = compare(y.data, torchOut.getF32(`output_${key(c)}`));
    else c.check = 'not checked (no PyTorch)';
    if (typeof c.check !== 'string' && !(c.check.maxAbs <= BOUND)) {
      throw new Error(`bench: ${key(c)}: output differs from PyTorch by ${c.check.maxAbs} (> ${BOUND}); not timing a wrong result`);
    }
    const times = await timeRuns(model, x, warmup, runs);
    const plan = model.plan(shape);
    c.medianMs = median(times);
    c.p90Ms = p90(times);
    c.gflop = plan.steps.reduce((s, st) => s + st.flops, 0) / 1e9;
    c.gflops = c.gflop / (c.medianMs / 1000);
    c.arenaBytes = plan.memory.arenaBytes;
    c.unsharedBytes = plan.memory.unsharedBytes;
    if (c.torch) c.speedupVsTorch = c.torch.medianMs / c.medianMs;
    if (model16) c.f16 = await timeF16(model16, x, y.data, warmup, runs, c.medianMs);
  }

  let profile: { config: string; method: string; times: StepTime[] } | undefined;
  if (layers) {
    const [s, n] = layers;
    log(`per-layer times at ${s}x${s} batch ${n}...`);
    const plan = model.plan([n, C, s, s]);
    await model.run({ data: input(n, C, s, 7), shape: [n, C, s, s] });
    profile = { config: `${s}x${s}_b${n}`, ...(await profileSteps(device, plan.steps, 3)) };
  }

  const result = {
    engine: `${ENGINE_NAME} ${ENGINE_VERSION}`,
    adapter: { description: adapter.description, vendor: adapter.vendor, architecture: adapter.architecture },
    model: { ...model.info, metadata: undefined, loadMs },
    torch: torchVersion ? { version: torchVersion, threads } : undefined,
    tuning,
    runs,
    warmup,
    configs,
    profile,
  };
  if (v.json) process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
  else process.stdout.write(formatTables(result, model));
  model.dispose();
  model16?.dispose();
  device.destroy();
  releaseGpu();
  return 0;
}

/** Wall times of `runs` forwards after `warmup` untimed ones. */
async function timeRuns(model: Model, x: { data: Float32Array; shape: number[] }, warmup: number, runs: number): Promise<number[]> {
  for (let k = 0; k < warmup; k++) await model.run(x);
  const times: number[] = [];
  for (let k = 0; k < runs; k++) {
    const s = performance.now();
    await model.run(x);
    times.push(performance.now() - s);
  }
  return times;
}

async function timeF16(model: Model, x: { data: Float32Array; shape: number[] }, f32: Float32Array, warmup: number, runs: number, f32Ms: number) {
  const y = await model.run(x);
  const { maxAbs, maskAgreement } = compare(y.data, f32);
  const times = await timeRuns(model, x, warmup, runs);
  return { medianMs: median(times), p90Ms: p90(times), maxAbsVsF32: maxAbs, maskAgreementVsF32: maskAgreement, speedupVsF32: f32Ms / median(times) };
}

function compare(got: Float32Array, want: Float32Array): { maxAbs: number; maskAgreement: number } {
  let maxAbs = 0;
  let agree = 0;
  for (let i = 0; i < got.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
    agree += Number(got[i] > 0.5 === want[i] > 0.5);
  }
  return { maxAbs, maskAgreement: agree / got.length };
}

const mib = (b?: number) => (b === undefined ? '' : `${(b / 2 ** 20).toFixed(1)}`);
const fixed = (x: number | undefined, d: number) => (x === undefined ? '' : x.toFixed(d));

function formatTables(r: { engine: string; adapter: { description: string; vendor: string }; tuning: Tuning; torch?: { version: string; threads: number }; runs: number; warmup: number; configs: ConfigResult[]; profile?: { config: string; method: string; times: StepTime[] } }, model: Model): string {
  const out: string[] = [];
  const i = model.info;
  out.push(`${r.engine} on ${r.adapter.description || r.adapter.vendor}`);
  const arch = i.architecture === 'brain-unet' ? `brain U-Net init_features ${i.features}` : `smp Unet ${i.encoder}, decoder ${i.decoderChannels.join(',')}${i.attention ? ` ${i.attention}` : ''}`;
  out.push(`model: ${arch}, ${i.inChannels} -> ${i.classes} ${i.activation}, depth ${i.depth}, ${(i.parameters / 1e6).toFixed(2)} M parameters, weights on GPU ${mib(i.weightBytes)} MiB`);
  out.push(`timing: median and p90 of ${r.runs} runs after ${r.warmup} warm-ups, upload and readback included; first = first run incl. compilation`);
  out.push(`kernels: conv2d ${JSON.stringify(r.tuning.conv2d)}, convTranspose2x2 ${JSON.stringify(r.tuning.convTranspose2x2)}`);
  out.push(r.torch ? `PyTorch ${r.torch.version} CPU, ${r.torch.threads} threads, same weights and inputs, timed in this run` : 'PyTorch: not run');
  out.push('');
  const head = ['input', 'first ms', 'median ms', 'p90 ms', 'GFLOP', 'GFLOP/s', 'arena MiB', 'no-reuse MiB', 'torch ms', 'torch/engine', 'max |Δ| vs torch', 'mask agree'];
  const rows = r.configs.map((c) => {
    const name = `${c.batch}x${c.size}x${c.size}`;
    if (c.skipped) return [name, `skipped: ${c.skipped}`];
    const chk = typeof c.check === 'object' ? c.check : undefined;
    return [name, fixed(c.firstMs, 0), fixed(c.medianMs, 0), fixed(c.p90Ms, 0), fixed(c.gflop, 1), fixed(c.gflops, 1), mib(c.arenaBytes), mib(c.unsharedBytes), fixed(c.torch?.medianMs, 0), c.speedupVsTorch ? `${c.speedupVsTorch.toFixed(2)}x` : '', chk ? chk.maxAbs.toExponential(1) : String(c.check ?? ''), chk ? `${(chk.maskAgreement * 100).toFixed(3)}%` : ''];
  });
  out.push(table(head, rows));
  const f16 = r.configs.filter((c) => c.f16);
  if (f16.length) {
    out.push('', "precision 'f16' (weights and activations stored as f16, sums in f32), vs the f32 engine output:");
    out.push(
      table(
        ['input', 'median ms', 'p90 ms', 'f32/f16', 'max |Δ| vs f32', 'mask agree'],
        f16.map((c) => [`${c.batch}x${c.size}x${c.size}`, c.f16!.medianMs.toFixed(0), c.f16!.p90Ms.toFixed(0), `${c.f16!.speedupVsF32.toFixed(2)}x`, c.f16!.maxAbsVsF32.toExponential(1), `${(c.f16!.maskAgreementVsF32 * 100).toFixed(3)}%`]),
      ),
    );
  }
  if (r.profile) {
    const total = r.profile.times.reduce((s, t) => s + t.ms, 0);
    out.push('', `per layer at ${r.profile.config} (${r.profile.method}, median of 3): ${total.toFixed(0)} ms in all`);
    out.push(
      table(
        ['step', 'shapes', 'ms', 'GFLOP/s', 'GB/s', 'share'],
        r.profile.times.map((t) => [t.label, t.detail, t.ms.toFixed(2), t.flops ? (t.flops / 1e6 / t.ms).toFixed(1) : '', t.bytes ? (t.bytes / 1e6 / t.ms).toFixed(1) : '', `${((t.ms / total) * 100).toFixed(1)}%`]),
      ),
    );
  }
  return `${out.join('\n')}\n`;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, k) => Math.max(h.length, ...rows.map((r) => (r.length === 2 && k > 0 ? 0 : (r[k] ?? '').length))));
  const line = (cells: string[]) => (cells.length === 2 && head.length > 2 ? `${cells[0].padEnd(widths[0])}  ${cells[1]}` : cells.map((c, k) => (k === 0 ? c.padEnd(widths[k]) : c.padStart(widths[k]))).join('  '));
  return [line(head), ...rows.map(line)].join('\n');
}
