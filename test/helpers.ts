// Small helpers shared by the tests: seeded randoms, tolerance checks that explain failures, GPU plumbing.
import * as assert from 'uvu/assert';
import '../src/node.js';
import { getDevice } from '../src/gpu/device.js';
import { mulberry32 } from '../src/arch/random.js';
import { createBuffer, readBack } from '../src/gpu/buffers.js';
import { type Nhwc4View, type Step, c4, dense, encodeSteps } from '../src/kernels/common.js';
import { nchwToNhwc4Step, nhwc4ToNchwStep } from '../src/kernels/layout.js';
import { type Tensor, numElements } from '../src/kernels/reference/tensor.js';

/** Uniform values in [0, 1) from mulberry32 (src/arch/random.ts), so every test input is reproducible. */
export function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** Uniform values in [lo, hi). */
export function randArray(rand: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rand();
  return a;
}

export function randTensor(rand: () => number, shape: [number, number, number, number], lo = -1, hi = 1): Tensor {
  return { data: randArray(rand, numElements(shape), lo, hi), shape };
}

/**
 * Asserts |got - want| <= atol + rtol * |want| elementwise. On failure the message gives the shape, the
 * worst index, the max difference and the first few mismatching pairs.
 */
export function assertClose(got: Float32Array, want: Float32Array, atol: number, rtol: number, what: string): number {
  assert.is(got.length, want.length, `${what}: length ${got.length} vs ${want.length}`);
  let maxDiff = 0;
  let worst = -1;
  const bad: string[] = [];
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= atol + rtol * Math.abs(want[i]))) {
      if (bad.length < 5) bad.push(`[${i}] got ${got[i]} want ${want[i]}`);
      if (!(d <= maxDiff)) worst = i;
    }
    if (d > maxDiff || Number.isNaN(d)) {
      maxDiff = Number.isNaN(d) ? Infinity : d;
      worst = i;
    }
  }
  if (bad.length) {
    assert.unreachable(`${what}: max |diff| ${maxDiff} at ${worst} exceeds atol ${atol} + rtol ${rtol}; ${bad.join(', ')}`);
  }
  return maxDiff;
}

export async function testDevice(): Promise<GPUDevice> {
  return getDevice();
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Uploads an NCHW tensor and converts it to NHWC4 in a new buffer (dense, or as a slice described by `view`). */
export function upload(device: GPUDevice, t: Tensor, view: Nhwc4View = dense(t.shape[1])): { buffer: GPUBuffer; steps: Step[] } {
  const [N, C, H, W] = t.shape;
  const src = createBuffer(device, 'test input nchw', t.data.byteLength, STORAGE(), t.data);
  const buffer = createBuffer(device, 'test input nhwc4', N * H * W * view.c4Stride * 16, STORAGE());
  const steps = [nchwToNhwc4Step(device, { N, C, H, W, view, workgroupSize: 64 }, { input: { buffer: src }, output: { buffer } })];
  return { buffer, steps };
}

export function nhwc4Buffer(device: GPUDevice, shape: [number, number, number, number], c4Stride = c4(shape[1])): GPUBuffer {
  const [N, , H, W] = shape;
  return createBuffer(device, 'test nhwc4', N * H * W * c4Stride * 16, STORAGE());
}

export function weightsBuffer(device: GPUDevice, data: Float32Array): GPUBuffer {
  return createBuffer(device, 'test weights', data.byteLength, GPUBufferUsage.STORAGE, data);
}

/** Runs `steps`, converts `buffer` (NHWC4, `view`) back to NCHW and reads it. */
export async function runAndRead(
  device: GPUDevice,
  steps: Step[],
  buffer: GPUBuffer,
  shape: [number, number, number, number],
  view: Nhwc4View = dense(shape[1]),
): Promise<Float32Array> {
  const [N, C, H, W] = shape;
  const n = numElements(shape);
  const out = createBuffer(device, 'test output nchw', n * 4, STORAGE());
  const read = createBuffer(device, 'test readback', n * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const all = [...steps, nhwc4ToNchwStep(device, { N, C, H, W, view, workgroupSize: 64 }, { input: { buffer }, output: { buffer: out } })];
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeSteps(pass, all);
  pass.end();
  enc.copyBufferToBuffer(out, 0, read, 0, n * 4);
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) throw new Error(`validation: ${err.message}`);
  const data = new Float32Array(await readBack(read, n * 4));
  out.destroy();
  read.destroy();
  return data;
}

/** Awaits `p`, which must reject with an error `check` accepts; returns that error. */
export async function rejectsWith(p: Promise<unknown>, check: (e: Error & { code?: string }) => boolean, what: string): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(check(e as Error), `${what}: ${(e as Error).name} ${(e as { code?: string }).code}: ${(e as Error).message}`);
    return e as Error;
  }
  return assert.unreachable(`${what}: did not reject`) as never;
}
