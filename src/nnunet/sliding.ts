// nnU-Net's sliding-window prediction (nnunetv2/inference/predict_from_raw_data.py
// predict_sliding_window_return_logits) on the GPU: the volume is uploaded once; per batch, windows (each with
// every mirror combination of inference_allowed_mirroring_axes, as _internal_maybe_mirror_and_predict runs
// them) are gathered into the compiled plan's input, the plan runs, and its logits, flipped back, times the
// Gaussian importance map and 1 / combinations, are added into accumulators on the GPU with the map into a
// weight sum; at the end one divide, one readback.
//
// Accumulation is float32. nnU-Net accumulates in torch.half (the logits and the weight sum), which moves
// probabilities near window borders by up to ~1e-3 and a few labels; we keep float32 and test against both
// (tools/nnunet_window_steps.py). The Gaussian is nnU-Net's: compute_gaussian's float16 values.
//
// Memory: the accumulators are split by class into chunks of as many classes as one storage binding holds
// (maxStorageBufferBindingSize); a volume whose single class, or whose input channels, pass one binding is
// refused. Padding (pad_nd_image, constant 0) is never materialised: windows read zeros outside the volume,
// and voxels outside it are never accumulated (nnU-Net slices them away).
import { InputError, UnsupportedError, throwIfAborted } from '../errors.js';
import { createBuffer, readBack, withGpuErrors } from '../gpu/buffers.js';
import { type Step, encodeSteps } from '../kernels/common.js';
import {
  ADDS_WEIGHT,
  EMPTY_SLOT,
  FLIP_X,
  FLIP_Y,
  FLIP_Z,
  type WindowSpec,
  windowDivideStep,
  windowGatherStep,
  windowScatterStep,
} from '../kernels/windowAccumulate.js';
import { computeGaussian } from './gaussian.js';
import { computeSteps, padToAtLeast } from './steps.js';

/** What the loop needs of a compiled plan (src/compiler/plan.ts Plan has all of it). */
export interface WindowPlan {
  /** [B, C, (PZ,) PY, PX] */
  readonly inputShape: readonly number[];
  /** [B, K, (PZ,) PY, PX] */
  readonly outputShape: readonly number[];
  readonly io: { input: GPUBuffer; output: GPUBuffer };
  encode(encoder: GPUCommandEncoder): void;
}

export interface SlidingWindowOptions {
  /** the configuration's patch size: 3 axes, or 2 (a 2d configuration, run slice by slice along Z) */
  patchSize: readonly number[];
  /** the plan for a batch of windows, input [batch, C, ...patchSize] */
  plan: (batch: number) => WindowPlan | Promise<WindowPlan>;
  /** default 0.5 */
  tileStepSize?: number;
  /** inference_allowed_mirroring_axes (patch axes); none or empty: no mirroring */
  mirrorAxes?: readonly number[];
  /** windows x mirror combinations per forward; default min(8, all of them) */
  batchSize?: number;
  onProgress?: (p: { done: number; total: number }) => void;
  signal?: AbortSignal;
  workgroupSize?: number;
}

/** One window and one mirror combination: a slot of a batch. */
interface Entry {
  start: [number, number, number];
  flips: number;
  addsWeight: boolean;
}

/** Every window start (volume coordinates, negative inside the padding) and the mirror flags, in nnU-Net's order. */
export function slidingWindows(shape: readonly number[], patch: readonly number[], tileStepSize: number, mirrorAxes: readonly number[] = []): Entry[] {
  const [Z, Y, X] = shape;
  const two = patch.length === 2;
  const pad = padToAtLeast([Z, Y, X], patch);
  const flipBits = two ? [FLIP_Y, FLIP_X] : [FLIP_Z, FLIP_Y, FLIP_X];
  for (const m of mirrorAxes) {
    if (!Number.isInteger(m) || m < 0 || m >= patch.length) throw new InputError(`mirror axes [${mirrorAxes}]: expected patch axes 0..${patch.length - 1}`);
  }
  // the identity first, then every non-empty combination (itertools.combinations by size)
  const combos = [0];
  for (let mask = 1; mask < 1 << mirrorAxes.length; mask++) combos.push(mirrorAxes.reduce((f, m, i) => (mask & (1 << i) ? f | flipBits[m] : f), 0));
  const starts: [number, number, number][] = [];
  if (two) {
    const [sy, sx] = computeSteps(pad.shape.slice(1), patch, tileStepSize);
    for (let z = 0; z < Z; z++) for (const y of sy) for (const x of sx) starts.push([z, y - pad.below[1], x - pad.below[2]]);
  } else {
    const [sz, sy, sx] = computeSteps(pad.shape, patch, tileStepSize);
    for (const z of sz) for (const y of sy) for (const x of sx) starts.push([z - pad.below[0], y - pad.below[1], x - pad.below[2]]);
  }
  return starts.flatMap((start) => combos.map((flips, i) => ({ start, flips, addsWeight: i === 0 })));
}

/**
 * predict_sliding_window_return_logits(volume) for a preprocessed volume [C, Z, Y, X]: the logits
 * [K, Z, Y, X], float32, the padding sliced away.
 */
export async function predictSlidingWindow(
  device: GPUDevice,
  volume: { data: Float32Array; shape: readonly number[] },
  options: SlidingWindowOptions,
): Promise<{ data: Float32Array; shape: number[] }> {
  const { patchSize: patch, signal } = options;
  if (volume.shape.length !== 4) throw new InputError(`volume [${volume.shape}]: expected [C, Z, Y, X]`);
  if (patch.length !== 2 && patch.length !== 3) throw new InputError(`patch size [${patch}]: expected 2 or 3 axes`);
  const [C, Z, Y, X] = volume.shape;
  const voxels = Z * Y * X;
  if (volume.data.length !== C * voxels) throw new InputError(`volume [${volume.shape}]: ${volume.data.length} values, expected ${C * voxels}`);
  const mirrorAxes = options.mirrorAxes ?? [];
  const entries = slidingWindows([Z, Y, X], patch, options.tileStepSize ?? 0.5, mirrorAxes);
  const combos = 2 ** mirrorAxes.length;
  const B = Math.max(1, Math.min(options.batchSize ?? 8, entries.length));
  const [PZ, PY, PX] = patch.length === 2 ? [1, ...patch] : patch;
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  if (C * voxels * 4 > maxBinding)
    throw new UnsupportedError(`volume [${volume.shape}]: ${C * voxels * 4} bytes, more than one storage binding (${maxBinding})`);
  const plan = await options.plan(B);
  const K = plan.outputShape[1];
  const want = [B, C, ...patch];
  if (plan.inputShape.join() !== want.join()) throw new InputError(`the plan takes [${plan.inputShape}], the windows need [${want}]`);
  if (plan.outputShape.slice(2).join() !== patch.join())
    throw new UnsupportedError(`the plan gives [${plan.outputShape}] for [${plan.inputShape}]: nnU-Net's windows need logits the size of the patch`);
  const perChunk = Math.floor(maxBinding / (voxels * 4));
  if (perChunk < 1)
    throw new UnsupportedError(`volume [${volume.shape}]: one class of logits needs ${voxels * 4} bytes, more than one storage binding (${maxBinding})`);
  const chunks: { k0: number; classes: number; buffer: GPUBuffer }[] = [];
  const owned: GPUBuffer[] = [];
  const steps: Step[] = [];
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  try {
    const vol = createBuffer(device, 'window volume', C * voxels * 4, usage, volume.data);
    const table = createBuffer(device, 'window table', B * 16, usage);
    const gaussian = createBuffer(device, 'window gaussian', PZ * PY * PX * 4, usage, computeGaussian(patch) as Float32Array);
    // zero-initialised, as WebGPU creates every buffer
    const weights = createBuffer(device, 'window weight sum', voxels * 4, GPUBufferUsage.STORAGE);
    owned.push(vol, table, gaussian, weights);
    for (let k0 = 0; k0 < K; k0 += perChunk) {
      const classes = Math.min(perChunk, K - k0);
      const buffer = createBuffer(device, `window logits ${k0}`, classes * voxels * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC);
      owned.push(buffer);
      chunks.push({ k0, classes, buffer });
    }
    const workgroupSize = options.workgroupSize ?? 64;
    const spec = (c: number): WindowSpec => ({ C: c, Z, Y, X, PZ, PY, PX, workgroupSize });
    const gather = windowGatherStep(device, spec(C), B, { volume: { buffer: vol }, table: { buffer: table }, windows: { buffer: plan.io.input } });
    steps.push(gather);
    const scatter: Step[] = [];
    for (let slot = 0; slot < B; slot++) {
      for (const [i, ch] of chunks.entries()) {
        scatter.push(
          windowScatterStep(
            device,
            spec(ch.classes),
            { K, k0: ch.k0, slot, weight: 1 / combos, sumsWeight: i === 0 },
            {
              prediction: { buffer: plan.io.output },
              table: { buffer: table },
              gaussian: { buffer: gaussian },
              logits: { buffer: ch.buffer },
              weights: { buffer: weights },
            },
          ),
        );
      }
    }
    steps.push(...scatter);
    const words = new Int32Array(B * 4);
    const total = Math.ceil(entries.length / B);
    for (let batch = 0; batch < total; batch++) {
      throwIfAborted(signal, 'the sliding-window prediction');
      for (let slot = 0; slot < B; slot++) {
        const e = entries[batch * B + slot];
        if (e) words.set([...e.start, e.flips | (e.addsWeight ? ADDS_WEIGHT : 0)], slot * 4);
        else words.set([0, 0, 0, EMPTY_SLOT], slot * 4);
      }
      const { errors } = withGpuErrors(device, `window batch ${batch + 1} of ${total}`, () => {
        device.queue.writeBuffer(table, 0, words);
        const encoder = device.createCommandEncoder({ label: 'sliding window' });
        const pass = encoder.beginComputePass({ label: 'window gather' });
        encodeSteps(pass, [gather]);
        pass.end();
        plan.encode(encoder);
        const add = encoder.beginComputePass({ label: 'window scatter' });
        encodeSteps(add, scatter);
        add.end();
        device.queue.submit([encoder.finish()]);
      });
      const error = await errors;
      if (error) throw error;
      await device.queue.onSubmittedWorkDone();
      options.onProgress?.({ done: batch + 1, total });
    }
    throwIfAborted(signal, 'the sliding-window prediction');
    const out = new Float32Array(K * voxels);
    for (const ch of chunks) {
      const bytes = ch.classes * voxels * 4;
      const readback = createBuffer(device, 'window logits readback', bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
      owned.push(readback);
      const divide = windowDivideStep(device, { C: ch.classes, voxels, workgroupSize }, { logits: { buffer: ch.buffer }, weights: { buffer: weights } });
      steps.push(divide);
      const { errors } = withGpuErrors(device, 'the window divide', () => {
        const encoder = device.createCommandEncoder({ label: 'window divide' });
        const pass = encoder.beginComputePass({ label: 'window divide' });
        encodeSteps(pass, [divide]);
        pass.end();
        encoder.copyBufferToBuffer(ch.buffer, 0, readback, 0, bytes);
        device.queue.submit([encoder.finish()]);
      });
      const [error, data] = await Promise.all([errors, readBack(readback, bytes)]);
      if (error) throw error;
      out.set(new Float32Array(data), ch.k0 * voxels);
    }
    return { data: out, shape: [K, Z, Y, X] };
  } finally {
    for (const b of owned) b.destroy();
    for (const s of steps) for (const b of s.owned) b.destroy();
  }
}
