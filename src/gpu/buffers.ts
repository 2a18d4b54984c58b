// Buffer helpers: creation with labels, uploads, readback that does not busy-wait, error scopes.
import type { GpuError } from '../errors.js';
import { gpuErrorOf } from './device.js';

export function createBuffer(device: GPUDevice, label: string, sizeBytes: number, usage: GPUBufferUsageFlags, data?: ArrayBufferView): GPUBuffer {
  // WebGPU requires buffer sizes (and writeBuffer sizes) to be multiples of 4 bytes.
  const size = Math.max(4, Math.ceil(sizeBytes / 4) * 4);
  const buffer = device.createBuffer({ label, size, usage: usage | (data ? GPUBufferUsage.COPY_DST : 0) });
  if (data) writeBufferPadded(device, buffer, 0, data);
  return buffer;
}

/** queue.writeBuffer needs a size that is a multiple of 4: pad the tail with zeros if it is not. */
export function writeBufferPadded(device: GPUDevice, buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4 === 0) {
    device.queue.writeBuffer(buffer, offset, bytes);
  } else {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    device.queue.writeBuffer(buffer, offset, padded);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits for `buffer` (MAP_READ) to map and returns a copy of its first `sizeBytes`.
 * On Dawn in Node, awaiting mapAsync busy-polls the main thread, which on a software adapter steals a core
 * from the rasterizer's own threads (measured 1.5-2x slower kernels, shared/LAVAPIPE.md). Sleeping for most
 * of the expected GPU time first avoids that; `expectedMs` is the caller's estimate (0 = don't sleep).
 */
export async function readBack(buffer: GPUBuffer, sizeBytes: number, expectedMs = 0): Promise<ArrayBuffer> {
  if (expectedMs > 2) await sleep(expectedMs * 0.9);
  await buffer.mapAsync(GPUMapMode.READ, 0, sizeBytes);
  try {
    return buffer.getMappedRange(0, sizeBytes).slice(0);
  } finally {
    buffer.unmap();
  }
}

/**
 * Runs `fn` (synchronous: nothing else may push or pop scopes in between) inside an out-of-memory and a
 * validation error scope, and returns its result with `errors`: the first error the scopes caught, as a
 * GpuError naming `what`, or undefined. The scopes judge the calls, not the GPU's execution: Dawn settles
 * them at once (0.2 ms after submitting 200 ms of lavapipe work), so awaiting them delays nothing.
 */
export function withGpuErrors<T>(device: GPUDevice, what: string, fn: () => T): { result: T; errors: Promise<GpuError | undefined> } {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let errors!: Promise<GpuError | undefined>;
  try {
    return { result: fn(), errors: (errors = popped()) };
  } finally {
    // after a throw from fn: the scopes are still closed, and what they caught is dropped (fn's error wins)
    if (!errors) popped().catch(() => undefined);
  }

  function popped(): Promise<GpuError | undefined> {
    const validation = device.popErrorScope();
    const oom = device.popErrorScope();
    return Promise.all([validation, oom]).then(([v, o]) => {
      const e = v ?? o;
      return e ? gpuErrorOf(e, what) : undefined;
    });
  }
}
