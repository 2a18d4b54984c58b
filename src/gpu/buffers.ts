// Buffer helpers: creation with labels, uploads, and readback that does not busy-wait.

export function createBuffer(
  device: GPUDevice,
  label: string,
  sizeBytes: number,
  usage: GPUBufferUsageFlags,
  data?: ArrayBufferView,
): GPUBuffer {
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

/** Runs `fn` inside a validation + out-of-memory error scope and throws the first error with `what` in it. */
export async function withErrorScope<T>(device: GPUDevice, what: string, fn: () => T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = fn();
  } finally {
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    const err = validation ?? oom;
    if (err) throw new Error(`${what}: ${err.message.split('\n')[0]}`);
  }
  return result;
}
