// Small helpers shared by the tests: seeded randoms, tolerance checks that explain failures, GPU plumbing.
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import '../src/node.js';
import { getDevice } from '../src/gpu/device.js';
import { mulberry32 } from '../src/arch/random.js';
import { createBuffer, readBack } from '../src/gpu/buffers.js';
import { type Nhwc4View, type Step, c4, dense, encodeSteps } from '../src/kernels/common.js';
import { nchwToNhwc4Step, nhwc4ToNchwStep } from '../src/kernels/layout.js';
import { type Tensor, numElements } from '../src/kernels/reference/tensor.js';
import { type Safetensors, parseSafetensors } from '../src/weights/safetensors.js';

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

/**
 * Asserts |got - want| <= tol * max(1, |want|) elementwise (a NaN fails), the bound the PyTorch fixture tests
 * hold outputs to; on failure the message gives the worst index and its pair. Returns the worst ratio.
 */
export function assertRelative(got: Float32Array, want: Float32Array, tol: number, what: string): number {
  assert.is(got.length, want.length, `${what}: ${got.length} outputs, torch has ${want.length}`);
  let [worst, at] = [0, -1];
  for (let i = 0; i < want.length && !Number.isNaN(worst); i++) {
    const e = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(e <= worst)) [worst, at] = [e, i];
  }
  assert.ok(worst <= tol, `${what}: |gpu - torch| / max(1, |torch|) = ${worst} at ${at} (gpu ${got[at]}, torch ${want[at]}), over ${tol}`);
  return worst;
}

/** PyTorch's outputs for the nnU-Net kernels, written by tools/make_nd_op_fixtures.py. */
export const ND_OPS_PATH = 'test/fixtures/ops/nd_ops.safetensors';
export const ND_OPS_HINT = 'run `/usr/bin/python3 tools/make_nd_op_fixtures.py`';

/** The nd op fixtures and those of their cases whose names start with `prefix`, each with its settings
 *  (`__metadata__.cases`); throws, saying how to write the file, where it is missing. */
export function ndOpCases<S>(prefix: string): { st: Safetensors; cases: [string, S][] } {
  if (!existsSync(ND_OPS_PATH)) throw new Error(`${ND_OPS_PATH} is missing: ${ND_OPS_HINT}`);
  const st = parseSafetensors(readFileSync(ND_OPS_PATH), ND_OPS_PATH);
  const cases = Object.entries(JSON.parse(st.metadata.cases) as Record<string, S>).filter(([name]) => name.startsWith(prefix));
  return { st, cases };
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

/**
 * Runs `steps`, converts `output` (NHWC4, stored as `view`, f16 or f32; an NDHWC4 tensor is NHWC4 with N*D
 * images) back to NCHW and reads both: the NCHW values and every byte of `output`, for the tests that check
 * which bytes a kernel wrote outside its channel slice or into the padding lanes.
 */
export async function runAndReadRaw(
  device: GPUDevice,
  steps: Step[],
  output: GPUBuffer,
  shape: [number, number, number, number],
  view: Nhwc4View,
  f16: boolean,
): Promise<{ data: Float32Array; raw: Uint8Array }> {
  const [N, C, H, W] = shape;
  const n = numElements(shape);
  const outBytes = N * H * W * view.c4Stride * (f16 ? 8 : 16);
  const nchw = createBuffer(device, 'test output nchw', n * 4, STORAGE());
  const read = createBuffer(device, 'test readback', n * 4 + outBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const all = [...steps, nhwc4ToNchwStep(device, { N, C, H, W, view, workgroupSize: 64, f16 }, { input: { buffer: output }, output: { buffer: nchw } })];
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  encodeSteps(pass, all);
  pass.end();
  enc.copyBufferToBuffer(nchw, 0, read, 0, n * 4);
  enc.copyBufferToBuffer(output, 0, read, n * 4, outBytes);
  device.queue.submit([enc.finish()]);
  const err = await device.popErrorScope();
  if (err) throw new Error(`validation: ${err.message}`);
  const bytes = await readBack(read, n * 4 + outBytes);
  nchw.destroy();
  read.destroy();
  return { data: new Float32Array(bytes, 0, n), raw: new Uint8Array(bytes, n * 4) };
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
