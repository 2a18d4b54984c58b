// Our engine beside other engines on the same model, inputs and machine, in one process and interleaved
// run by run: ONNX Runtime's WebGPU EP (its own Dawn, on the same adapter) and CPU EP, and PyTorch (on
// the CPU, or CUDA with TF32 off / on and fp16 channels_last on a GPU machine). Each engine's first
// output is compared with PyTorch's f32 output and with ours before the timed runs; one table at the end
// gives the times and those differences.
//
//   node --import tsx bench/peers.ts [--weights PATH] [--sizes 256] [--batches 1] [--runs 10] [--warmup 10]
//       [--onnx PATH] [--python /usr/bin/python3] [--torch-device cpu|cuda] [--torch-variants f32,tf32,fp16-cl]
//       [--threads 2] [--f16] [--no-ort-cpu] [--no-torch] [--json] [--json-file PATH]
//
// The ONNX model is exported from the same weights by tools/export_onnx.py (PyTorch's TorchScript
// exporter, opset 17, dynamic N/H/W) unless --onnx names an existing file; --onnx with a new path keeps it.
// onnxruntime-node is a devDependency; without it (or without a WebGPU adapter for its EP) those columns
// say why they are empty.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describeDevice, getDevice, loadModel, releaseGpu, type Model } from '../src/node.js';
import { webgpuPackageVersion } from '../src/gpu/node.js';
import { readModelArg } from '../src/cli/files.js';
import { randomUNetSafetensors } from '../src/arch/random.js';
import { benchInput, compare, type Contender, interleaved, type Stats, summarize, table } from '../src/cli/benchTime.js';
import { RECOMMENDED_WARMUP, spread } from '../src/cli/benchTable.js';
import { configKey } from '../src/cli/bench.js';
import { exceeds } from '../src/tiling/budget.js';
import { TorchPeer, type TorchVariant, toolPath, writeReferenceModel } from '../src/cli/torchPeer.js';
import type { TorchReference } from '../src/arch/types.js';
import { type Ort, loadOrt, ortRun, ortSession } from './ort.js';

const EXPORT_SCRIPT = toolPath('export_onnx.py');

/** One engine in the table: how it runs a configuration once (ms), and its output for the check. */
interface Peer {
  name: string;
  /** undefined when it ran; else why it did not */
  missing?: string;
  forward?(key: string, x: { data: Float32Array; shape: number[] }): Promise<{ ms: number; output?: Float32Array }>;
  /** outputs known without running (PyTorch's, written by its process) */
  output?(key: string): Float32Array | undefined;
  /** its outputs are the reference the others are checked against (PyTorch f32) */
  isReference?: boolean;
}

interface Row {
  size: number;
  batch: number;
  gflop: number;
  /** per engine: its times, its output's distance from PyTorch's f32 output and from ours, or why it did not run */
  results: Record<string, { stats?: Stats; check?: { maxAbs: number; maskAgreement: number }; vsOurs?: number; missing?: string }>;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      weights: { type: 'string' },
      sizes: { type: 'string', default: '256' },
      batches: { type: 'string', default: '1' },
      runs: { type: 'string', default: '10' },
      warmup: { type: 'string', default: String(RECOMMENDED_WARMUP) },
      onnx: { type: 'string' },
      python: { type: 'string', default: '/usr/bin/python3' },
      'torch-device': { type: 'string', default: 'cpu' },
      'torch-variants': { type: 'string', default: 'f32' },
      threads: { type: 'string', default: '2' },
      f16: { type: 'boolean' },
      'no-ort-cpu': { type: 'boolean' },
      'no-torch': { type: 'boolean' },
      json: { type: 'boolean' },
      'json-file': { type: 'string' },
    },
  });
  const ints = (s: string, min = 1) =>
    s.split(',').map((x) => {
      if (!/^\d+$/.test(x) || Number(x) < min) throw new Error(`bench/peers.ts: expected integers >= ${min} separated by commas, found ${JSON.stringify(s)}`);
      return Number(x);
    });
  const [[runs], [warmup], [threads]] = [ints(v.runs!), ints(v.warmup!, 0), ints(v.threads!)];
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const source = v.weights ? readModelArg(v.weights) : { weights: randomUNetSafetensors({ seed: 1 }), name: 'random weights' };
  const config = 'config' in source ? source.config : undefined;

  const device = await getDevice();
  const adapter = describeDevice(device);
  const model = await loadModel(device, source);
  const model16 = v.f16 ? await loadModel(device, source, { precision: 'f16' }) : undefined;
  const C = model.info.inChannels;
  const configs = ints(v.sizes!).flatMap((size) => ints(v.batches!).map((batch) => ({ size, batch })));
  const inputs = new Map(configs.map((c, i) => [configKey(c), { data: benchInput(c.batch, C, c.size, 1000 + i), shape: [c.batch, C, c.size, c.size] }]));

  const dir = mkdtempSync(join(tmpdir(), 'unet-peers-'));
  const peers: Peer[] = [];
  const closers: (() => unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    // PyTorch first: it computes the reference outputs
    const torchDevice = v['torch-device'] === 'cuda' ? 'cuda' : 'cpu';
    const variants = v['torch-variants']!.split(',') as TorchVariant[];
    let noTorch = v['no-torch'] ? '--no-torch' : TorchPeer.unavailable(v.python);
    let torch: TorchPeer | undefined;
    if (!noTorch) {
      const forTorch = Object.fromEntries([...inputs].map(([k, x]) => [`input_${k}`, x]));
      log(`PyTorch (${torchDevice}${torchDevice === 'cpu' ? `, ${threads} threads` : ''}, ${variants.join(', ')}): reference outputs...`);
      try {
        torch = await TorchPeer.start({
          python: v.python,
          weights: source.weights,
          config,
          reference: model.info.reference,
          inputs: forTorch,
          threads,
          device: torchDevice,
          variants,
        });
        closers.push(() => torch!.close());
      } catch (e) {
        noTorch = (e as Error).message; // its stderr above says more
      }
    }
    const reference = (key: string) => torch?.outputs.getF32(`output_${key}`);

    // ours
    const ours =
      (m: Model): Peer['forward'] =>
      (_key, x) =>
        timed(async () => (await m.run(x, { tile: false })).data);
    peers.push({ name: 'ours', forward: ours(model) });
    if (model16) peers.push({ name: 'ours f16', forward: ours(model16) });

    // ONNX Runtime
    const ort = await loadOrt();
    let onnx = v.onnx;
    let whyNoOrt = typeof ort === 'string' ? ort : undefined;
    if (!whyNoOrt && !(onnx && existsSync(onnx))) {
      onnx ??= join(dir, 'model.onnx');
      try {
        exportOnnx(v.python!, source.weights, config, model.info.reference, dir, onnx);
      } catch (e) {
        whyNoOrt = `the ONNX export failed: ${(e as Error).message.split('\n')[0]}`;
      }
    }
    const ortPeer = async (name: string, ep: string): Promise<Peer> => {
      if (whyNoOrt) return { name, missing: whyNoOrt };
      try {
        const session = await ortSession(ort as Ort, onnx!, ep, threads);
        closers.push(() => session.release());
        return { name, forward: (_key, x) => timed(async () => (await ortRun(ort as Ort, session, x)).data) };
      } catch (e) {
        return { name, missing: (e as Error).message };
      }
    };
    peers.push(await ortPeer('ORT WebGPU', 'webgpu'));
    if (!v['no-ort-cpu']) peers.push(await ortPeer('ORT CPU', 'cpu'));

    // PyTorch's timings come from its own process (synchronized on CUDA); its outputs were written at start
    const torchName = (variant: TorchVariant) => `PyTorch ${torchDevice === 'cpu' ? 'CPU' : 'CUDA'}${variant === 'f32' ? '' : ` ${variant}`}`;
    for (const variant of variants) {
      if (!torch) peers.push({ name: torchName(variant), missing: noTorch });
      else {
        const suffix = variant === 'f32' ? '' : `@${variant}`;
        peers.push({
          name: torchName(variant),
          forward: async (key) => ({ ms: await torch!.time(`input_${key}`, variant) }),
          output: (key) => torch!.outputs.getF32(`output_${key}${suffix}`),
          isReference: variant === 'f32',
        });
      }
    }

    const rows: Row[] = [];
    for (const c of configs) {
      const key = configKey(c);
      const x = inputs.get(key)!;
      const tooBig = exceeds(model.estimate(x.shape), device.limits);
      if (tooBig) {
        log(`${key}: skipped: ${tooBig}`);
        continue;
      }
      const row: Row = { ...c, gflop: model.plan(x.shape).steps.reduce((s, st) => s + st.flops, 0) / 1e9, results: {} };
      rows.push(row);
      const ready: Contender[] = [];
      const want = reference(key);
      let oursOut: Float32Array | undefined;
      for (const p of peers) {
        if (p.missing || !p.forward) {
          row.results[p.name] = { missing: p.missing };
          continue;
        }
        const first = await p.forward(key, x); // compiles / autotunes; the checks
        const got = first.output ?? p.output?.(key);
        if (p.name === 'ours') oursOut = got;
        row.results[p.name] = {
          check: got && want && !p.isReference ? compare(got, want) : undefined,
          vsOurs: got && oursOut && p.name !== 'ours' ? compare(got, oursOut).maxAbs : undefined,
        };
        ready.push({ name: p.name, once: async () => (await p.forward!(key, x)).ms });
      }
      log(`${key}: ${ready.map((p) => p.name).join(', ')}: ${warmup} warm-up rounds + ${runs} timed, interleaved...`);
      const times = await interleaved(ready, warmup, runs);
      for (const [name, t] of times) row.results[name].stats = summarize(t);
      await model.releasePlans();
      await model16?.releasePlans();
    }

    const ortVersion = typeof ort === 'string' ? undefined : (ort.env.versions.node ?? ort.env.versions.common);
    const header = {
      adapter: adapter.description || adapter.vendor,
      dawn: `webgpu ${webgpuPackageVersion() ?? '?'}`,
      ort: ortVersion ? `onnxruntime-node ${ortVersion}` : 'onnxruntime-node: not installed',
      torch: torch ? `PyTorch ${torch.version} on ${torch.device}` : `PyTorch: ${noTorch}`,
      model: `${model.info.title}, ${model.info.inChannels} -> ${model.info.classes} ${model.info.activation}`,
      runs,
      warmup,
    };
    const json = `${JSON.stringify({ ...header, peers: peers.map((p) => ({ name: p.name, missing: p.missing })), rows }, null, 1)}\n`;
    if (v['json-file']) writeFileSync(v['json-file'], json);
    if (v.json) process.stdout.write(json);
    else
      process.stdout.write(
        formatPeers(
          header,
          peers.map((p) => p.name),
          rows,
        ),
      );
  } finally {
    for (const close of closers.reverse()) await close();
    model.dispose();
    model16?.dispose();
    device.destroy();
    releaseGpu();
  }
}

/** The wall time of one forward, and its output. */
async function timed(forward: () => Promise<Float32Array>): Promise<{ ms: number; output: Float32Array }> {
  const t0 = performance.now();
  const output = await forward();
  return { ms: performance.now() - t0, output };
}

/** tools/export_onnx.py on the weights (and config) written into `dir`. */
function exportOnnx(python: string, weights: Uint8Array, config: string | undefined, reference: TorchReference, dir: string, out: string): void {
  const model = writeReferenceModel(dir, reference, weights, config);
  execFileSync(python, [EXPORT_SCRIPT, ...model, '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The comparison table: per configuration each engine's median (p10–p90) and its time over ours
 *  (> 1: ours is faster), then each output's largest difference from PyTorch's f32 output. */
export function formatPeers(
  h: { adapter: string; dawn: string; ort: string; torch: string; model: string; runs: number; warmup: number },
  names: string[],
  rows: Row[],
): string {
  const few = h.warmup < RECOMMENDED_WARMUP ? ` (fewer than the ${RECOMMENDED_WARMUP} recommended)` : '';
  const lines = [
    `adapter: ${h.adapter}; ${h.dawn}; ${h.ort}; ${h.torch}`,
    `model: ${h.model}; median (p10–p90) ms of ${h.runs} runs after ${h.warmup} warm-up rounds${few}, engines interleaved run by run;`,
    "WebGPU engines and ORT CPU: wall time of one call, input and output in CPU memory; PyTorch: its forward's own time (CUDA synchronized, input resident); x: engine's median / ours (> 1: ours faster); GFLOP/s: ours, 2 per multiply-add",
    '',
  ];
  const others = names.filter((n) => n !== 'ours');
  const head = ['size', 'batch', 'ours ms', 'GFLOP/s', ...others.flatMap((n) => [`${n} ms`, 'x'])];
  const body = rows.map((r) => {
    const base = r.results.ours?.stats?.median;
    return [
      `${r.size}²`,
      String(r.batch),
      spread(r.results.ours?.stats),
      base ? (r.gflop / (base / 1000)).toFixed(1) : '',
      ...others.flatMap((n) => {
        const s = r.results[n]?.stats;
        return [s ? spread(s) : 'n/a', s && base ? (s.median / base).toFixed(2) : ''];
      }),
    ];
  });
  lines.push(table(head, body), '', 'max |Δ| vs PyTorch f32 (masks > 0.5 equal) / vs ours, on the sigmoid outputs:');
  lines.push(
    table(
      ['size', 'batch', ...names],
      rows.map((r) => [`${r.size}²`, String(r.batch), ...names.map((n) => checkCell(r.results[n]))]),
    ),
  );
  const missing = names.map((n) => [n, rows.find((r) => r.results[n]?.missing)?.results[n].missing]).filter(([, m]) => m);
  for (const [n, m] of missing) lines.push(`${n}: not run: ${m}`);
  return `${lines.join('\n')}\n`;
}

function checkCell(r: Row['results'][string] | undefined): string {
  if (!r || r.missing) return 'n/a';
  const ours = r.vsOurs === undefined ? '' : ` / ${r.vsOurs.toExponential(1)}`;
  if (!r.check) return `reference${ours}`;
  return `${r.check.maxAbs.toExponential(1)} (${(r.check.maskAgreement * 100).toFixed(2)}%)${ours}`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
