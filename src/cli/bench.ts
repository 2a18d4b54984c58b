// `unet bench`: the U-Net forward at several sizes and batches, three ways: GPU time (a timestamp pair
// around the forward's compute pass), throughput (forwards back to back on an input already on the GPU)
// and end to end (upload + forward + readback, what model.run costs); time to first result, memory,
// per-layer GPU times, and the same forward in PyTorch on the CPU when /usr/bin/python3 has torch,
// interleaved with ours run by run. Every output is checked against PyTorch's before it is timed.
import { readFileSync, writeFileSync } from 'node:fs';
import { adapterOf } from '../gpu/device.js';
import { webgpuPackageVersion } from '../gpu/node.js';
import { profileSteps } from '../compiler/profile.js';
import { DEFAULT_TUNING, tuningFor } from '../compiler/tuning.js';
import { cachedTuning } from '../compiler/tune.js';
import { buildModel } from '../arch/index.js';
import { architectureKey, readModelSource } from '../load.js';
import { exceeds } from '../tiling/budget.js';
import { readWeightsArg } from './model.js';
import { randomUNetSafetensors } from '../arch/random.js';
import { describeDevice, getDevice, loadModel, parseSafetensors, releaseGpu, type Model, type TensorData } from '../node.js';
import { parseCommandArgs } from './args.js';
import { UsageError } from './errors.js';
import { ENGINE_NAME, ENGINE_VERSION } from './package.js';
import { benchInput, compare, type Contender, interleaved, residentForwards, summarize, wallMs } from './benchTime.js';
import { type BenchReport, type ConfigResult, RECOMMENDED_WARMUP, formatBench } from './benchTable.js';
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
                     model.safetensors), as a path or an http(s) URL; default: brain U-Net, random
                     weights, init_features 32, 3 -> 1
  --sizes LIST       square input sizes (default 128,256,512)
  --batches LIST     batch sizes (default 1,4,16; those that do not fit one pass are skipped, saying why)
  --runs N           timed runs per configuration and measure (default 10)
  --warmup N         untimed runs before them (default ${RECOMMENDED_WARMUP}; fewer for slow adapters: the output says so)
  --layers SIZExN    configuration profiled per layer (default 256x1; "none" to skip)
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
  layers: { type: 'string', default: '256x1' },
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

/** Largest |engine - PyTorch| accepted on the sigmoid output before timing (PyTorch runs in f32 too). */
const BOUND = 1e-4;

const intList = (flag: string, s: string, min = 1) =>
  s.split(',').map((v) => {
    if (!/^\d+$/.test(v) || Number(v) < min)
      throw new UsageError(`bench: --${flag} takes ${min ? 'positive' : 'non-negative'} integers separated by commas, found ${JSON.stringify(s)}`);
    return Number(v);
  });

export const configKey = (c: { size: number; batch: number }) => `${c.size}x${c.size}_b${c.batch}`;

export async function bench(args: string[]): Promise<number> {
  const v = parseCommandArgs('bench', args, OPTIONS);
  if (v.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const sizes = intList('sizes', v.sizes!);
  const batches = intList('batches', v.batches!);
  const [runs] = intList('runs', v.runs!);
  const [warmup] = intList('warmup', v.warmup!, 0);
  const [threads] = intList('threads', v.threads!);
  const layers = v.layers === 'none' ? undefined : /^(\d+)x(\d+)$/.exec(v.layers!)?.slice(1).map(Number);
  if (v.layers !== 'none' && !layers) throw new UsageError(`bench: --layers takes SIZExBATCH (e.g. 256x1) or none, found ${JSON.stringify(v.layers)}`);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  if (v['torch-device'] !== 'cpu' && v['torch-device'] !== 'cuda')
    throw new UsageError(`bench: --torch-device is cpu or cuda, found ${JSON.stringify(v['torch-device'])}`);
  const torchDevice = v['torch-device'] as 'cpu' | 'cuda';

  if (!['auto', 'portable', 'subgroup', 'measured'].includes(v.tuning!))
    throw new UsageError(`bench: --tuning is auto, portable, subgroup or measured, found ${JSON.stringify(v.tuning)}`);
  const source = v.weights ? await readWeightsArg(v.weights) : { weights: randomUNetSafetensors({ seed: 1 }), name: 'random weights' };
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
  const { inChannels: C } = model.info;
  const configs: ConfigResult[] = [];
  for (const size of sizes) for (const batch of batches) configs.push({ size, batch });

  // Which configurations fit this adapter in one pass (the big ones need tiles, which this bench does
  // not time), decided from the memory plan without allocating anything.
  for (const c of configs) c.skipped = exceeds(model.estimate([c.batch, C, c.size, c.size]), device.limits);
  const inputs = new Map(configs.map((c, i) => [configKey(c), { data: benchInput(c.batch, C, c.size, 1000 + i), shape: [c.batch, C, c.size, c.size] }]));

  // PyTorch: its outputs are the reference; its forwards are timed between ours. Its script lives in
  // tools/, which only a source checkout has (the npm package ships dist/ and bin/).
  const whyNoTorch = v['no-torch'] ? 'PyTorch skipped (--no-torch)' : TorchPeer.unavailable(v.python);
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
      c.check = reference?.tensors.has(`output_${key}`) ? compare(y, reference.getF32(`output_${key}`)) : 'not checked (no PyTorch)';
      if (typeof c.check !== 'string' && !(c.check.maxAbs <= BOUND)) {
        throw new Error(`bench: ${key}: output differs from PyTorch by ${c.check.maxAbs} (> ${BOUND}); not timing a wrong result`);
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
      if (model16) c.f16 = await timeF16(model16, x, y, warmup, runs, c.e2e.median);
      // one configuration's buffers at a time (16 x 512² would otherwise stay beside the next ones)
      await model.releasePlans();
      await model16?.releasePlans();
    }
  } finally {
    torch?.close();
  }

  let profile: BenchReport['profile'];
  if (layers) {
    const [s, n] = layers;
    log(`per-layer times at ${s}x${s} batch ${n}...`);
    const plan = model.plan([n, C, s, s]);
    await model.run({ data: benchInput(n, C, s, 7), shape: [n, C, s, s] });
    profile = { config: `${s}x${s}_b${n}`, ...(await profileSteps(device, plan.steps, 3)) };
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

async function timeF16(model: Model, x: TensorData, f32: Float32Array, warmup: number, runs: number, f32Ms: number): Promise<ConfigResult['f16']> {
  const y = await model.run(x);
  const { maxAbs, maskAgreement } = compare(y.data, f32);
  const e2e = summarize((await interleaved([{ name: 'f16', once: () => wallMs(() => model.run(x)) }], warmup, runs)).get('f16')!);
  return { e2e, maxAbsVsF32: maxAbs, maskAgreementVsF32: maskAgreement, speedupVsF32: f32Ms / e2e.median };
}
