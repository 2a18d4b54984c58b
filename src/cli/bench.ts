// `unet bench`: the U-Net forward (2D, or an nnU-Net 3D network's) at several sizes and batches, three
// ways: GPU time (a timestamp pair around the forward's compute pass), throughput (forwards back to back on
// an input already on the GPU) and end to end (upload + forward + readback, what model.run costs); time to
// first result, memory, per-layer GPU times, and the same forward in PyTorch on the CPU when
// /usr/bin/python3 has torch (an nnU-Net network built by dynamic_network_architectures, --dna),
// interleaved with ours run by run. Every output is checked against PyTorch's before it is timed.
import { readFileSync, writeFileSync } from 'node:fs';
import { adapterOf } from '../gpu/device.js';
import { webgpuPackageVersion } from '../gpu/node.js';
import { profileSteps } from '../compiler/profile.js';
import { DEFAULT_TUNING, tuningFor } from '../compiler/tuning.js';
import { cachedTuning } from '../compiler/tune.js';
import { buildModel } from '../arch/index.js';
import { architectureKey, readModelSource } from '../load.js';
import { DEFAULT_LIMITS } from '../limits.js';
import type { ModelInfo } from '../model.js';
import { NNUNET_OPTIONS, isNnunetPath, nnunetChoice, nnunetHelp, takeFolds } from './nnunet.js';
import { exceeds } from '../tiling/budget.js';
import { isWeightsUrl, readWeightsArg } from './model.js';
import { randomUNetSafetensors } from '../arch/random.js';
import { describeDevice, getDevice, loadModel, parseSafetensors, releaseGpu, type Model, type TensorData } from '../node.js';
import { parseCommandArgs } from './args.js';
import { UsageError } from './errors.js';
import { ENGINE_NAME, ENGINE_VERSION } from './package.js';
import { benchInput, compare, type Contender, interleaved, residentForwards, summarize, wallMs } from './benchTime.js';
import { type BenchReport, type ConfigResult, RECOMMENDED_WARMUP, argmaxLabels, formatBench } from './benchTable.js';
import { TorchPeer } from './torchPeer.js';

export const BENCH_USAGE = `Usage: unet bench [options]

Times the U-Net forward at each size and batch that fits the adapter in one pass, three ways:
  GPU         a timestamp-query pair around the forward's compute pass (adapters with timestamp-query)
  throughput  --runs forwards submitted back to back on an input already on the GPU, per forward
  end to end  model.run: upload, forward, readback (what an application waits for)
each as median, p10 and p90 of --runs after --warmup untimed runs; the first run (pipeline compilation
included) separately; GFLOP/s (2 x multiply-adds); memory; per-layer GPU times at one configuration.
With PyTorch at /usr/bin/python3 (and tools/ of a source checkout) the same forward runs on the CPU,
run for run interleaved with ours; its output is the reference every engine output is checked against.

Options:
  --weights PATH     model: a safetensors state_dict or an smp save_pretrained folder (config.json +
                     model.safetensors), as a path or an http(s) URL, or an nnU-Net results folder
                     (plans.json, dataset.json, fold_K/checkpoint_final.pth) or its zip; default: brain
                     U-Net, random weights, init_features 32, 3 -> 1
  --sizes LIST       square input sizes (default 128,256,512); for a 3D model cubes (64) or DxHxW
                     (96x160x160), rounded up to multiples of its strides (model.info.sizeMultiples)
  --batches LIST     batch sizes (default 1,4,16; those that do not fit one pass are skipped, saying why)
  --runs N           timed runs per configuration and measure (default 10)
  --warmup N         untimed runs before them (default ${RECOMMENDED_WARMUP}; fewer for slow adapters: the output says so)
  --layers SIZExN    configuration profiled per layer (default 256x1; for a 3D model the first size run, as
                     SIZExN or DxHxWxN; "none" to skip)
${nnunetHelp(21)}
  --dna PATH         nnU-Net: a dynamic_network_architectures checkout, with which PyTorch builds the
                     network from plans.json (without it PyTorch is skipped)
  --threads N        PyTorch CPU threads (default 2)
  --python PATH      the Python with PyTorch (default /usr/bin/python3)
  --torch-device D   cpu (default) or cuda: PyTorch f32 on the GPU (TF32 off, cudnn.benchmark), input
                     resident there, each forward synchronized
  --f16              also time precision 'f16' end to end and report its error vs the f32 engine output
  --no-torch         skip PyTorch
  --reference PATH   PyTorch outputs to check against: written here when PyTorch runs, read from here
                     when it does not (e.g. on a machine without PyTorch; same weights, sizes and batches)
  --tuning NAME      kernel variants: auto (picked for the adapter, default), portable (no optional
                     feature), subgroup (weights shared by subgroup broadcast), measured (what
                     \`unet tune\` stored for this adapter and architecture)
  --json             print one JSON object instead of the tables
  --json-file PATH   also write that JSON object to PATH
  -h, --help         show this help
`;

const OPTIONS = {
  weights: { type: 'string' },
  sizes: { type: 'string', default: '128,256,512' },
  batches: { type: 'string', default: '1,4,16' },
  runs: { type: 'string', default: '10' },
  warmup: { type: 'string', default: String(RECOMMENDED_WARMUP) },
  layers: { type: 'string' },
  ...NNUNET_OPTIONS,
  dna: { type: 'string' },
  threads: { type: 'string', default: '2' },
  python: { type: 'string', default: '/usr/bin/python3' },
  'torch-device': { type: 'string', default: 'cpu' },
  'no-torch': { type: 'boolean' },
  f16: { type: 'boolean' },
  reference: { type: 'string' },
  tuning: { type: 'string', default: 'auto' },
  json: { type: 'boolean' },
  'json-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Largest |engine - PyTorch| / max(1, max |PyTorch|) accepted before timing (PyTorch runs in f32 too): on a sigmoid
 *  output the absolute error, on nnU-Net's logits (tens) the error on their scale. */
const BOUND = 1e-4;

const intList = (flag: string, s: string, min = 1) =>
  s.split(',').map((v) => {
    if (!/^\d+$/.test(v) || Number(v) < min)
      throw new UsageError(`bench: --${flag} takes ${min ? 'positive' : 'non-negative'} integers separated by commas, found ${JSON.stringify(s)}`);
    return Number(v);
  });

export const configKey = (c: { size: number; batch: number; spatial?: number[] }) => `${(c.spatial ?? [c.size, c.size]).join('x')}_b${c.batch}`;

/** --sizes: each a side (a square image, or a cube for a 3D model) or DxHxW (a 3D model's volume). */
function parseSizes(s: string): number[][] {
  return s.split(',').map((v) => {
    const m = /^(\d+)(?:x(\d+)x(\d+))?$/.exec(v);
    const sides = m
      ? m
          .slice(1)
          .filter((d) => d !== undefined)
          .map(Number)
      : [];
    if (!sides.length || sides.some((d) => d < 1))
      throw new UsageError(`bench: --sizes takes positive sizes (or DxHxW for a 3D model) separated by commas, found ${JSON.stringify(s)}`);
    return sides;
  });
}

/**
 * One configuration per size and batch. A 2D model takes square sizes (padded as model.run pads them); a 3D
 * model's sides are rounded up to multiples of its strides, since it runs unpadded.
 */
function configsFor(info: ModelInfo, sizes: number[][], batches: number[]): ConfigResult[] {
  const configs: ConfigResult[] = [];
  for (const sides of sizes) {
    let spatial: number[] | undefined;
    let rounded: string | undefined;
    if (info.dims === 3) {
      ({ spatial, rounded } = volumeOf(info, sides));
    } else if (sides.length !== 1) {
      throw new UsageError(`bench: --sizes ${sides.join('x')}: DxHxW is for a 3D model; ${info.title} takes square sizes`);
    }
    for (const batch of batches)
      configs.push({ size: spatial ? Math.max(...spatial) : sides[0], batch, ...(spatial && { spatial }), ...(rounded && { rounded }) });
  }
  return configs;
}

/** A 3D model's input volume for a side (a cube) or [D, H, W], each rounded up to a multiple of its strides. */
function volumeOf(info: ModelInfo, sides: number[]): { spatial: number[]; rounded?: string } {
  const asked = sides.length === 1 ? [sides[0], sides[0], sides[0]] : sides;
  const m = info.sizeMultiples ?? [1, 1, 1];
  const spatial = asked.map((d, k) => Math.ceil(d / m[k]) * m[k]);
  if (spatial.every((d, k) => d === asked[k])) return { spatial };
  return { spatial, rounded: `${asked.join('x')} rounded up to ${spatial.join('x')} (this network takes multiples of [${m}], its strides)` };
}

/** --layers: "none", SIZExN (a square, or a 3D model's cube) or DxHxWxN; undefined: 256x1 (2D) or the first 3D size run. */
function parseLayers(v: string | undefined): { sides: number[]; batch: number } | 'none' | undefined {
  if (v === undefined || v === 'none') return v;
  const m = /^(\d+)x(?:(\d+)x(\d+)x)?(\d+)$/.exec(v);
  if (!m) throw new UsageError(`bench: --layers takes SIZExBATCH (e.g. 256x1), DxHxWxBATCH or none, found ${JSON.stringify(v)}`);
  return { sides: [m[1], m[2], m[3]].filter((d) => d !== undefined).map(Number), batch: Number(m[4]) };
}

export async function bench(args: string[]): Promise<number> {
  const { args: rest, folds } = takeFolds('bench', args);
  const v = parseCommandArgs('bench', rest, OPTIONS);
  if (v.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const sizes = parseSizes(v.sizes!);
  const choice = nnunetChoice('bench', folds, v);
  const batches = intList('batches', v.batches!);
  const [runs] = intList('runs', v.runs!);
  const [warmup] = intList('warmup', v.warmup!, 0);
  const [threads] = intList('threads', v.threads!);
  const layersArg = parseLayers(v.layers);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  if (v['torch-device'] !== 'cpu' && v['torch-device'] !== 'cuda')
    throw new UsageError(`bench: --torch-device is cpu or cuda, found ${JSON.stringify(v['torch-device'])}`);
  const torchDevice = v['torch-device'] as 'cpu' | 'cuda';

  if (!['auto', 'portable', 'subgroup', 'measured'].includes(v.tuning!))
    throw new UsageError(`bench: --tuning is auto, portable, subgroup or measured, found ${JSON.stringify(v.tuning)}`);
  const nnunetFolder = v.weights !== undefined && !isWeightsUrl(v.weights) && isNnunetPath(v.weights) ? v.weights : undefined;
  const source = v.weights
    ? await readWeightsArg(v.weights, DEFAULT_LIMITS, process.stderr, choice, 'bench')
    : { weights: randomUNetSafetensors({ seed: 1 }), name: 'random weights' };
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
  if (v.tuning === 'subgroup' && auto.conv2d.weights !== 'subgroup')
    throw new UsageError('bench: --tuning subgroup needs an adapter with subgroups of one fixed size');
  const tDevice = performance.now();
  const model = await loadModel(device, source, { tuning });
  const loadMs = performance.now() - tDevice;
  if (v.f16 && !device.features.has('shader-f16')) throw new UsageError('bench: --f16 needs the shader-f16 feature, which this adapter lacks');
  const model16 = v.f16 ? await loadModel(device, source, { tuning, precision: 'f16' }) : undefined;
  const { inChannels: C, classes } = model.info;
  const configs = configsFor(model.info, sizes, batches);
  const shapeOf = (c: ConfigResult) => [c.batch, C, ...(c.spatial ?? [c.size, c.size])];

  // Which configurations fit this adapter in one pass (the big ones need tiles, which this bench does
  // not time), decided from the memory plan without allocating anything.
  for (const c of configs) {
    const e = model.estimate(shapeOf(c));
    c.estimate = { totalBytes: e.totalBytes, arenaBytes: e.arenaBytes, largestActivationBytes: e.largestActivationBytes };
    c.skipped = exceeds(e, device.limits);
  }
  // inputs of those that run (and of all of them for a --reference file PyTorch writes): a skipped one may be GiBs
  const inputs = new Map(
    configs.flatMap((c, i) =>
      !c.skipped || (v.reference && !v['no-torch']) ? [[configKey(c), { data: benchInput(c.batch, C, c.spatial ?? c.size, 1000 + i), shape: shapeOf(c) }]] : [],
    ),
  );

  // PyTorch: its outputs are the reference; its forwards are timed between ours. Its script lives in
  // tools/, which only a source checkout has (the npm package ships dist/ and bin/). An nnU-Net network is
  // built there by dynamic_network_architectures from the results folder's plans.json (--dna).
  const nnunet = model.info.reference.option === '--nnunet';
  const whyNoTorch = v['no-torch']
    ? 'PyTorch skipped (--no-torch)'
    : nnunet && !v.dna
      ? 'PyTorch skipped: it builds an nnU-Net network with dynamic_network_architectures; give --dna PATH (a checkout of it)'
      : nnunet && /\.zip$/i.test(nnunetFolder!)
        ? 'PyTorch skipped: tools/torch_bench.py reads a results folder, not a zip (unzip it)'
        : TorchPeer.unavailable(v.python);
  let torch: TorchPeer | undefined;
  let reference: ReturnType<typeof parseSafetensors> | undefined;
  if (!whyNoTorch) {
    const forTorch: Record<string, { shape: number[]; data: Float32Array }> = {};
    // skipped ones too when saving a reference: another adapter may take them in one pass
    for (const c of configs) if (!c.skipped || v.reference) forTorch[`input_${configKey(c)}`] = inputs.get(configKey(c))!;
    log(
      `PyTorch (${torchDevice === 'cpu' ? `CPU, ${threads} threads` : 'CUDA'}): computing the reference outputs of ${Object.keys(forTorch).length} configurations...`,
    );
    const config = 'config' in source ? source.config : undefined;
    torch = await TorchPeer.start({
      python: v.python,
      weights: source.weights,
      config,
      reference: model.info.reference,
      // the folds the model was loaded with (the loader's default: every fold_K present)
      nnunet: nnunet ? { folder: nnunetFolder!, dna: v.dna!, folds: loadedFolds(config), checkpoint: v.checkpoint, configuration: v.configuration } : undefined,
      inputs: forTorch,
      threads,
      device: torchDevice,
    });
    reference = torch.outputs;
    if (v.reference) writeFileSync(v.reference, torch.outputBytes);
  } else if (v.reference) {
    reference = parseSafetensors(readFileSync(v.reference), v.reference);
    log(`${whyNoTorch}: outputs checked against ${v.reference}`);
  } else {
    log(`${whyNoTorch}: outputs are not checked`);
  }

  try {
    for (const c of configs) {
      if (c.skipped) continue;
      const key = configKey(c);
      const x = inputs.get(key)!;
      log(`engine ${key}: first run, check, ${warmup} warm-ups + ${runs} runs end to end${torch ? ' (PyTorch interleaved)' : ''}, ${runs} back to back...`);
      const opts = { tile: false } as const;
      let y!: Float32Array;
      c.firstMs = await wallMs(async () => (y = (await model.run(x, opts)).data));
      const check = reference?.tensors.has(`output_${key}`)
        ? compare(y, reference.getF32(`output_${key}`), argmaxLabels(model.info) ? classes : 1, c.batch)
        : undefined;
      c.check = check ?? 'not checked (no PyTorch)';
      if (check && !(check.maxRel <= BOUND)) {
        throw new Error(
          `bench: ${key}: output differs from PyTorch by ${check.maxAbs} (${check.maxRel} of max(1, max |PyTorch|) > ${BOUND}); not timing a wrong result`,
        );
      }
      const contenders: Contender[] = [{ name: 'engine', once: () => wallMs(() => model.run(x, opts)) }];
      if (torch) contenders.push({ name: 'torch', once: () => torch!.time(`input_${key}`) });
      const times = await interleaved(contenders, warmup, runs);
      c.e2e = summarize(times.get('engine')!);
      if (torch) c.torch = summarize(times.get('torch')!);

      const plan = model.plan(x.shape);
      plan.upload(x.data);
      const resident = await residentForwards(device, plan, runs, c.e2e.median);
      c.throughput = resident.period;
      c.throughputMeanMs = resident.msPerForward;
      if (resident.gpu) c.gpu = resident.gpu;
      c.gflop = plan.steps.reduce((s, st) => s + st.flops, 0) / 1e9;
      c.arenaBytes = plan.memory.arenaBytes;
      c.unsharedBytes = plan.memory.unsharedBytes;
      c.gpuBytes = model.gpuMemory().totalBytes;
      if (model16) c.f16 = await timeF16(model16, x, y, warmup, runs, c.e2e.median, argmaxLabels(model.info) ? classes : 1);
      // one configuration's buffers at a time (16 x 512² would otherwise stay beside the next ones)
      await model.releasePlans();
      await model16?.releasePlans();
    }
  } finally {
    torch?.close();
  }

  let profile: BenchReport['profile'];
  const layers = profiledConfig(model.info, layersArg, configs);
  if (layers) {
    const shape = [layers.batch, C, ...layers.spatial];
    const name = configKey({ size: 0, ...layers });
    const why = exceeds(model.estimate(shape), device.limits);
    if (why) log(`per-layer times at ${name}: skipped, ${why}`);
    else {
      log(`per-layer times at ${name}...`);
      const plan = model.plan(shape);
      await model.run({ data: benchInput(layers.batch, C, layers.spatial.length === 3 ? layers.spatial : layers.spatial[0], 7), shape }, { tile: false });
      profile = { config: name, ...(await profileSteps(device, plan.steps, 3)) };
    }
  }

  const report: BenchReport = {
    engine: `${ENGINE_NAME} ${ENGINE_VERSION}`,
    adapter: {
      description: adapter.description,
      vendor: adapter.vendor,
      architecture: adapter.architecture,
      device: adapter.device,
      timestampQuery: device.features.has('timestamp-query'),
    },
    dawn: { package: 'webgpu', version: webgpuPackageVersion() ?? 'unknown' },
    model: { ...model.info, metadata: undefined, loadMs },
    torch: torch ? { version: torch.version, device: torch.device, threads } : undefined,
    tuning,
    runs,
    warmup,
    configs,
    profile,
  };
  if (v['json-file']) writeFileSync(v['json-file'], `${JSON.stringify(report, null, 1)}\n`);
  if (v.json) process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
  else process.stdout.write(formatBench(report));
  model.dispose();
  model16?.dispose();
  device.destroy();
  releaseGpu();
  return 0;
}

/** The configuration profiled per layer: --layers as given (a side is a 3D model's cube), else 256x1 for a 2D
 *  model and the first size run, batch 1, for a 3D one (256^3 would never fit). */
function profiledConfig(
  info: ModelInfo,
  arg: ReturnType<typeof parseLayers>,
  configs: readonly ConfigResult[],
): { spatial: number[]; batch: number } | undefined {
  if (arg === 'none') return undefined;
  if (arg === undefined) {
    if (info.dims !== 3) return { spatial: [256, 256], batch: 1 };
    const ran = configs.find((c) => !c.skipped);
    return ran && { spatial: ran.spatial!, batch: 1 };
  }
  const { sides, batch } = arg;
  if (info.dims === 3) return { spatial: volumeOf(info, sides).spatial, batch };
  if (sides.length !== 1) throw new UsageError(`bench: --layers DxHxWxN is for a 3D model; ${info.title} takes SIZExN`);
  return { spatial: [sides[0], sides[0]], batch };
}

/** The folds an nnU-Net config says were loaded ('fold_0', 'fold_all'), as fold numbers or 'all'. */
function loadedFolds(config: string | undefined): (number | 'all')[] | undefined {
  const names = config ? (JSON.parse(config) as { nnunet?: { folds?: string[] } }).nnunet?.folds : undefined;
  return names?.map((f) => (f === 'fold_all' ? 'all' : Number(f.slice('fold_'.length))));
}

async function timeF16(
  model: Model,
  x: TensorData,
  f32: Float32Array,
  warmup: number,
  runs: number,
  f32Ms: number,
  channels: number,
): Promise<ConfigResult['f16']> {
  const y = await model.run(x);
  const { maxAbs, maskAgreement } = compare(y.data, f32, channels, x.shape[0]);
  const e2e = summarize((await interleaved([{ name: 'f16', once: () => wallMs(() => model.run(x)) }], warmup, runs)).get('f16')!);
  return { e2e, maxAbsVsF32: maxAbs, maskAgreementVsF32: maskAgreement, speedupVsF32: f32Ms / e2e.median };
}
