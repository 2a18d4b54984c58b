// Issue 21's targets: large inputs through the whole-image path (one logical pass, in bands past the binding
// limit) against PyTorch's CPU whole-image forward, beside today's sliding windows:
//   b0_2400x1800   smp Unet efficientnet-b0 (random weights, bench/parity-smp.ts's models), 1x3x1800x2400
//   r34_3072x2304  smp Unet resnet34, 1x3x2304x3072
//   brain_4096     the brain U-Net demo model, bench/big-image.ts's 4096^2 mosaic
//   nnunet3d_128   nnU-Net's default 3d_fullres PlainConvUNet (32 features in stage 0), 1x1x128^3
// The inputs, the models' paths and PyTorch's outputs, times and peak RSS come from tools/large_reference.py
// (run on first use; files under --cache, git-ignored). Each of our runs is a child process (its own peak RSS):
//   whole    tile 'auto' (one pass when it fits the memory budget): time, peak GPU bytes (model.gpuMemory(),
//            weights + plan), host peak RSS; max |Δ| vs PyTorch, the check |Δ| <= 1e-4 * max(1, |ref|)
//            elementwise, masks equal (sigmoid > 0.5, argmax over classes)
//   windows  tile { mode: 'always' } with the default roi: time and mask agreement with PyTorch
//   bands    a crop small enough for one unbanded pass, run unbanded and banded (LoadOptions.maxBindingBytes at a
//            quarter of its largest activation): time per pixel of each (best of --repeat), bit-equality
// Prints a markdown table; --json prints the results as JSON instead (the table then goes to stderr).
//   node --import tsx bench/large.ts [--cases b0_2400x1800,...] [--modes whole,windows,bands] [--cache DIR]
//                                    [--repeat 2] [--band-fraction 4] [--json] [--reuse]
// --algo ALGO runs every conv on ALGO (direct, winograd2, winograd4, tiled; where it applies), files tagged @ALGO.
// --reuse takes a mode's measurement (CASE.MODE.json, with its output CASE.MODE.f32) from the cache where an
// earlier run left it, and compares again (e.g. after --f64 references were added).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { type ConvAlgo, type Tuning, tuningFor } from '../src/compiler/tuning.js';
import { adapterOf } from '../src/gpu/device.js';
import { describeDevice, getDevice, type LoadOptions, loadModel, type Model, parseSafetensors, releaseGpu, type RunResult } from '../src/node.js';

const CASES = ['b0_2400x1800', 'r34_3072x2304', 'brain_4096', 'nnunet3d_128'];
const MODES = ['whole', 'windows', 'bands'] as const;
type Mode = (typeof MODES)[number];
const BOUND = 1e-4;

const { values: v } = parseArgs({
  options: {
    cases: { type: 'string', default: CASES.join(',') },
    modes: { type: 'string', default: MODES.join(',') },
    cache: { type: 'string', default: 'bench/.cache/large' },
    repeat: { type: 'string', default: '2' },
    'band-fraction': { type: 'string', default: '4' },
    json: { type: 'boolean' },
    reuse: { type: 'boolean' },
    algo: { type: 'string' },
    nnunet: { type: 'string' },
    // internal: one measurement in this process
    worker: { type: 'string' },
    case: { type: 'string' },
  },
});
const cache = v.cache!;
// --algo: every conv on that algorithm where it applies (as bench/parity-smp.ts --algos); its files are tagged
const tag = v.algo ? `@${v.algo}` : '';
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const gib = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : mib(b));
const say = (s: string) => process.stderr.write(`${s}\n`);
const cpuSeconds = () => {
  const u = process.resourceUsage();
  return (u.userCPUTime + u.systemCPUTime) / 1e6;
};

interface Tensor {
  data: Float32Array;
  shape: number[];
}

function readTensor(path: string, name: string): Tensor & { metadata: Record<string, string> } {
  const st = parseSafetensors(readFileSync(path), path);
  return { data: st.getF32(name), shape: st.tensors.get(name)!.shape as number[], metadata: st.metadata };
}

/** What a worker reports (one JSON line on stdout). */
interface Measured {
  mode: Mode;
  seconds?: number;
  /** user + system CPU seconds of this process over the run (lavapipe's threads included): on a shared machine
   *  less noisy than wall time */
  cpuSeconds?: number;
  /** 1-minute load average before and after the run */
  load?: [number, number];
  compileSeconds?: number;
  peakGpuBytes?: number;
  weightBytes?: number;
  planBytes?: number;
  maxRssBytes?: number;
  /** how the run went: 'one pass', or the windows */
  path?: string;
  tiling?: RunResult['tiling'];
  /** whole: model.runPath() for the input's shape, and the plan's banded nodes (their band count and band heights) */
  runPath?: { path: string; why: string };
  bandPlan?: { node: string; bands: number; rows: number[] }[];
  /** the run was refused or failed: the error's message */
  error?: string;
  /** bands: the crop, the limit, each variant's best seconds, bit-equality */
  bands?: {
    shape: number[];
    bindingLimit: number;
    largestActivationBytes: number;
    /** the banded model's runPath().why */
    why: string;
    unbanded: number[];
    banded: number[];
    cpu: { unbanded: number[]; banded: number[] };
    bitEqual: boolean;
  };
}

// ---------------------------------------------------------------------------------------------
// worker: one measurement of one case in this process

async function worker(mode: Mode, name: string): Promise<void> {
  const input = readTensor(`${cache}/${name}.input.safetensors`, 'input');
  const device = await getDevice();
  const base = tuningFor(device, adapterOf(device));
  const tuning: Tuning | undefined = v.algo ? { ...base, conv2d: { ...base.conv2d, algo: v.algo as ConvAlgo } } : undefined;
  const load = (o: LoadOptions = {}) => loadModel(device, input.metadata.model, { planCacheBytes: device.limits.maxBufferSize, tuning, ...o });
  const r: Measured = { mode };
  try {
    if (mode === 'bands') r.bands = await bands(await load(), load, input);
    else if (mode === 'windows' && input.shape.length === 5)
      // model.run takes a 3D volume in one pass whatever `tile` says; nnU-Net's predictor windows at its patch
      r.error = "no windowed path: model.run runs 3D volumes in one pass (nnU-Net windows at the plan's patch, here the whole input)";
    else {
      const model = await load();
      model.resetPeak();
      const tile = mode === 'whole' ? 'auto' : ({ mode: 'always' } as const);
      let t0 = performance.now();
      if (mode === 'whole') {
        const p = model.runPath(input.shape);
        r.runPath = { path: p.path, why: p.why };
        // compile first, so the run's time is the run's (run() takes the same cached plan when it runs one pass)
        if (p.path !== 'windows') {
          const plan = model.plan(input.shape);
          r.compileSeconds = (performance.now() - t0) / 1000;
          r.bandPlan = [...plan.bands].map(([node, b]) => ({ node, bands: b.length, rows: [...new Set(b.map((x) => x.rows))] }));
        }
      }
      const load0 = loadavg()[0];
      const c0 = cpuSeconds();
      t0 = performance.now();
      let last = t0;
      const y = await model.run(input, {
        tile,
        onProgress: ({ done, total }) => {
          const now = performance.now();
          if (now - last > 10000 && done < total) {
            last = now;
            say(`  ${name} ${mode}: ${done}/${total} windows, ${((now - t0) / 1000).toFixed(0)} s`);
          }
        },
      });
      r.seconds = (performance.now() - t0) / 1000;
      r.cpuSeconds = cpuSeconds() - c0;
      r.load = [load0, loadavg()[0]];
      const mem = model.gpuMemory();
      Object.assign(r, { peakGpuBytes: mem.peakBytes, weightBytes: mem.weightBytes, planBytes: mem.planBytes, tiling: y.tiling });
      r.path = y.tiling ? `${y.tiling.windows} windows of ${y.tiling.roi.join('x')} (batch ${y.tiling.batch})` : 'one pass';
      writeFileSync(`${cache}/${name}.${mode}${tag}.f32`, new Uint8Array(y.data.buffer, y.data.byteOffset, y.data.byteLength));
    }
  } catch (e) {
    r.error = (e as Error).message;
  }
  r.maxRssBytes = process.resourceUsage().maxRSS * 1024;
  process.stdout.write(`${JSON.stringify(r)}\n`);
  device.destroy();
  releaseGpu();
}

/** The input's top-left crop of `shape` (spatial sizes at most the input's). */
function crop(x: Tensor, shape: number[]): Tensor {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const W = x.shape.at(-1)!;
  const w = shape.at(-1)!;
  // every row of the crop: index over N, C and the spatial axes but the last
  const outer = shape.slice(0, -1);
  const idx = outer.map(() => 0);
  for (let row = 0; row < out.length / w; row++) {
    let src = 0;
    for (let a = 0; a < outer.length; a++) src = src * x.shape[a] + idx[a];
    out.set(x.data.subarray(src * W, src * W + w), row * w);
    for (let a = outer.length - 1; a >= 0 && ++idx[a] === outer[a]; a--) idx[a] = 0;
  }
  return { data: out, shape };
}

/**
 * Banded vs unbanded at one size: the largest crop (a multiple of 32 per spatial axis, shrinking by 1/8 steps)
 * whose largest activation fits the binding limit, so both run in one pass; the banded model is loaded with
 * bindingLimit = that activation / --band-fraction. Alternating runs, best of --repeat each, after a warm-up.
 */
async function bands(model: Model, load: (o: LoadOptions) => Promise<Model>, input: Tensor): Promise<NonNullable<Measured['bands']>> {
  let shape: number[] | undefined;
  let largest = 0;
  for (let f = 1; f > 0.05 && !shape; f -= 1 / 8) {
    const s = [...input.shape.slice(0, 2), ...input.shape.slice(2).map((d) => Math.max(32, Math.floor((d * f) / 32) * 32))];
    if (model.runPath(s).path === 'one pass') [shape, largest] = [s, model.estimate(s).largestActivationBytes];
  }
  if (!shape) throw new Error(`no crop of [${input.shape}] fits one unbanded pass`);
  const bindingLimit = Math.ceil(largest / Number(v['band-fraction']) / 2 ** 16) * 2 ** 16;
  const banded = await load({ maxBindingBytes: bindingLimit });
  const path = banded.runPath(shape);
  if (path.path !== 'bands') throw new Error(`with maxBindingBytes ${bindingLimit} the crop [${shape}] runs as ${path.path}, not in bands`);
  const x = crop(input, shape);
  const times = { unbanded: [] as number[], banded: [] as number[] };
  const cpu = { unbanded: [] as number[], banded: [] as number[] };
  const outs: Float32Array[] = [];
  // warm-up: compiles
  for (const m of [model, banded]) outs.push((await m.run(x, { tile: false })).data);
  for (let i = 0; i < Number(v.repeat); i++)
    for (const [m, key] of [
      [model, 'unbanded'],
      [banded, 'banded'],
    ] as const) {
      const [t0, c0] = [performance.now(), cpuSeconds()];
      await m.run(x, { tile: false });
      times[key].push((performance.now() - t0) / 1000);
      cpu[key].push(cpuSeconds() - c0);
    }
  const a = new Uint32Array(outs[0].buffer);
  const b = new Uint32Array(outs[1].buffer);
  return {
    shape,
    bindingLimit,
    largestActivationBytes: largest,
    why: path.why,
    ...times,
    cpu,
    bitEqual: a.length === b.length && a.every((u, i) => u === b[i]),
  };
}

// ---------------------------------------------------------------------------------------------
// comparisons

interface Compared {
  maxAbs: number;
  /** max |Δ| / max(1, |ref|) */
  maxRel: number;
  /** elements past the bound, and the mean |Δ| */
  over: number;
  meanAbs: number;
  pass: boolean;
  /** masks equal, fraction of pixels */
  masks: number;
  maskDiffering: number;
  /** over the pixels whose masks differ, the largest margin of the reference's decision: |ref - 0.5| for one
   *  channel, the gap between its two largest classes for several (a margin within max |Δ| is a tie that
   *  rounding decides) */
  maskMargin: number;
}

/** Per pixel, the mask: > 0.5 for one channel, else the first channel of the largest value. */
function masks(y: Float32Array, shape: number[]): Uint8Array {
  const C = shape[1];
  const px = shape.slice(2).reduce((a, b) => a * b, 1);
  const m = new Uint8Array(shape[0] * px);
  for (let n = 0; n < shape[0]; n++)
    for (let p = 0; p < px; p++) {
      if (C === 1) {
        m[n * px + p] = Number(y[n * px + p] > 0.5);
        continue;
      }
      let best = 0;
      for (let c = 1; c < C; c++) if (y[(n * C + c) * px + p] > y[(n * C + best) * px + p]) best = c;
      m[n * px + p] = best;
    }
  return m;
}

function compare(got: Float32Array, ref: Float32Array, shape: number[], refMasks: Uint8Array): Compared {
  if (got.length !== ref.length) throw new Error(`output of ${got.length} values, the reference has ${ref.length}`);
  let maxAbs = 0;
  let maxRel = 0;
  let over = 0;
  let sum = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    sum += d;
    if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Number.POSITIVE_INFINITY : d;
    const rel = d / Math.max(1, Math.abs(ref[i]));
    if (!(rel <= maxRel)) maxRel = Number.isNaN(rel) ? Number.POSITIVE_INFINITY : rel;
    if (!(rel <= BOUND)) over++;
  }
  const m = masks(got, shape);
  const C = shape[1];
  const px = m.length / shape[0];
  let differ = 0;
  let margin = 0;
  for (let i = 0; i < m.length; i++) {
    if (m[i] === refMasks[i]) continue;
    differ++;
    const n = Math.floor(i / px);
    const at = (c: number) => ref[(n * C + c) * px + (i % px)];
    if (C === 1) margin = Math.max(margin, Math.abs(at(0) - 0.5));
    else {
      const sorted = Array.from({ length: C }, (_, c) => at(c)).sort((a, b) => b - a);
      margin = Math.max(margin, sorted[0] - sorted[1]);
    }
  }
  return { maxAbs, maxRel, over, meanAbs: sum / ref.length, pass: maxRel <= BOUND, masks: 1 - differ / m.length, maskDiffering: differ, maskMargin: margin };
}

// ---------------------------------------------------------------------------------------------
// orchestration

function runWorker(mode: Mode, name: string): Measured {
  const saved = `${cache}/${name}.${mode}${tag}.json`;
  if (v.reuse && existsSync(saved)) return JSON.parse(readFileSync(saved, 'utf8')) as Measured;
  const r = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      process.argv[1],
      '--worker',
      mode,
      '--case',
      name,
      '--cache',
      cache,
      '--repeat',
      v.repeat!,
      '--band-fraction',
      v['band-fraction']!,
      ...(v.algo ? ['--algo', v.algo] : []),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 24,
      encoding: 'utf8',
    },
  );
  const line = r.stdout.trim().split('\n').at(-1);
  if (r.status !== 0 || !line) return { mode, error: `worker exited with ${r.status ?? r.signal}` };
  writeFileSync(saved, line);
  return JSON.parse(line) as Measured;
}

interface TorchInfo {
  seconds: number[];
  cpu_seconds?: number[];
  max_rss_bytes: number;
  threads: number;
  torch_version: string;
}

async function main(): Promise<void> {
  const cases = v.cases!.split(',');
  const modes = v.modes!.split(',') as Mode[];
  for (const m of modes) if (!MODES.includes(m)) throw new Error(`--modes: unknown mode ${m}; known: ${MODES.join(', ')}`);
  const missing = cases.filter((c) => !['input.safetensors', 'ref.safetensors', 'torch.json'].every((s) => existsSync(`${cache}/${c}.${s}`)));
  if (missing.length) {
    const args = ['tools/large_reference.py', '--cases', missing.join(','), '--cache', cache, ...(v.nnunet ? ['--nnunet', v.nnunet] : [])];
    say(`PyTorch references: /usr/bin/python3 ${args.join(' ')}`);
    const r = spawnSync('/usr/bin/python3', args, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`tools/large_reference.py failed (${r.status ?? r.signal})`);
  }
  const device = await getDevice();
  const adapter = describeDevice(device);
  const limits = { maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize, maxBufferSize: device.limits.maxBufferSize };
  device.destroy();
  say(
    `${adapter.description || adapter.vendor}: maxStorageBufferBindingSize ${mib(limits.maxStorageBufferBindingSize)}, maxBufferSize ${mib(limits.maxBufferSize)}`,
  );

  const results = [];
  for (const name of cases) {
    const torch = JSON.parse(readFileSync(`${cache}/${name}.torch.json`, 'utf8')) as TorchInfo;
    const refFile = parseSafetensors(readFileSync(`${cache}/${name}.ref.safetensors`), name);
    const ref = refFile.getF32('output');
    const shape = refFile.tensors.get('output')!.shape as number[];
    const ref64 = refFile.tensors.has('output64') ? refFile.getF32('output64') : undefined;
    const refMasks = masks(ref, shape);
    const row: Record<string, unknown> = {
      case: name,
      shape,
      torch: {
        seconds: Math.min(...torch.seconds),
        cpuSeconds: torch.cpu_seconds && Math.min(...torch.cpu_seconds),
        maxRssBytes: torch.max_rss_bytes,
        threads: torch.threads,
        version: torch.torch_version,
      },
    };
    if (ref64) row.torchVsF64 = compare(ref, ref64, shape, masks(ref64, shape));
    const ours: Partial<Record<Mode, Measured & { vsTorch?: Compared; vsF64?: Compared; vsWhole?: Compared }>> = {};
    for (const mode of modes) {
      say(`${name}: ${mode}...`);
      const m: Measured & { vsTorch?: Compared; vsF64?: Compared; vsWhole?: Compared } = runWorker(mode, name);
      if (mode !== 'bands' && !m.error) {
        const path = `${cache}/${name}.${mode}${tag}.f32`;
        const b = readFileSync(path);
        const got = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        m.vsTorch = compare(got, ref, shape, refMasks);
        if (ref64) m.vsF64 = compare(got, ref64, shape, masks(ref64, shape));
        if (mode === 'windows' && existsSync(`${cache}/${name}.whole${tag}.f32`)) {
          const w = readFileSync(`${cache}/${name}.whole${tag}.f32`);
          const whole = new Float32Array(w.buffer, w.byteOffset, w.byteLength / 4);
          m.vsWhole = compare(got, whole, shape, masks(whole, shape));
        }
      }
      say(`  ${JSON.stringify(m)}`);
      ours[mode] = m;
    }
    results.push({ ...row, ours });
  }
  const table = markdown(results as unknown as Row[]);
  if (v.json) {
    say(table);
    process.stdout.write(`${JSON.stringify({ adapter: adapter.description, limits, bound: BOUND, results }, null, 1)}\n`);
  } else process.stdout.write(`${table}\n`);
  releaseGpu();
}

interface Row {
  case: string;
  shape: number[];
  torch: { seconds: number; cpuSeconds?: number; maxRssBytes: number };
  torchVsF64?: Compared;
  ours: Partial<Record<Mode, Measured & { vsTorch?: Compared; vsF64?: Compared }>>;
}

function markdown(rows: Row[]): string {
  const pct = (f: number) => (f === 1 ? '100%' : `${(Math.floor(f * 1e7) / 1e5).toFixed(5)}%`);
  const s = (x: number | undefined, cpu?: number) => (x === undefined ? '—' : `${x.toFixed(1)} s${cpu === undefined ? '' : ` (cpu ${cpu.toFixed(0)})`}`);
  const lines = [
    '| case [output] | max \\|Δ\\| vs torch | ≤ 1e-4·max(1,\\|ref\\|) | masks equal | time ours / torch / windows | windows: masks vs torch | peak GPU (× torch RSS) | RSS ours / torch | banded / unbanded per px |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const w = r.ours.whole;
    const win = r.ours.windows;
    const b = r.ours.bands;
    const t = r.torch;
    const wholeOk = w && !w.error && w.vsTorch;
    const ratio = (x: number | undefined) => (x === undefined ? '' : ` (${(x / t.maxRssBytes).toFixed(2)}×)`);
    const bandsCell = !b
      ? '—'
      : b.error || !b.bands
        ? `error: ${b.error}`
        : `${(Math.min(...b.bands.banded) / Math.min(...b.bands.unbanded)).toFixed(2)} (cpu ${(Math.min(...b.bands.cpu.banded) / Math.min(...b.bands.cpu.unbanded)).toFixed(2)}) at ${b.bands.shape.slice(2).join('x')} (limit ${mib(b.bands.bindingLimit)}${b.bands.bitEqual ? ', bit-equal' : ', NOT bit-equal'})`;
    lines.push(
      [
        `${r.case} [${r.shape.join(',')}]`,
        wholeOk
          ? `${w.vsTorch!.maxAbs.toExponential(2)}${w.vsF64 && r.torchVsF64 ? ` (vs float64: ours ${w.vsF64.maxAbs.toExponential(2)}, torch f32 ${r.torchVsF64.maxAbs.toExponential(2)})` : ''}`
          : w?.error
            ? `error: ${w.error}`
            : '—',
        wholeOk
          ? w.vsTorch!.pass
            ? 'yes'
            : `no: ${w.vsTorch!.over} of ${r.shape.reduce((a, b) => a * b, 1)} values${w.vsF64 && r.torchVsF64 ? ` (vs float64: ours ${w.vsF64.over}, torch f32 ${r.torchVsF64.over})` : ''}`
          : '—',
        wholeOk
          ? `${pct(w.vsTorch!.masks)}${w.vsTorch!.maskDiffering ? ` (${w.vsTorch!.maskDiffering} px differ, margin ≤ ${w.vsTorch!.maskMargin.toExponential(1)})` : ''}${w.path !== 'one pass' ? ` [${w.path}]` : ''}`
          : '—',
        `${wholeOk ? `${s(w.seconds, w.cpuSeconds)}${w.compileSeconds !== undefined ? ` (+${w.compileSeconds.toFixed(1)} s compile)` : ''}` : '—'} / ${s(t.seconds, t.cpuSeconds)} / ${win && !win.error ? `${s(win.seconds, win.cpuSeconds)} (${win.path})` : win?.error ? `error: ${win.error}` : '—'}`,
        win?.vsTorch ? pct(win.vsTorch.masks) : '—',
        wholeOk ? `${gib(w.peakGpuBytes!)}${ratio(w.peakGpuBytes)}` : '—',
        `${wholeOk ? gib(w.maxRssBytes!) : '—'}${wholeOk ? ratio(w.maxRssBytes) : ''} / ${gib(t.maxRssBytes)}`,
        bandsCell,
      ].join(' | '),
    );
  }
  return lines.map((l) => (l.startsWith('|') ? l : `| ${l} |`)).join('\n');
}

if (v.worker) await worker(v.worker as Mode, v.case!);
else await main();
