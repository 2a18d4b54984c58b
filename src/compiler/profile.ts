// Per-step GPU time of a compiled plan. With `timestamp-query` each step runs in its own compute pass
// with timestamps at its start and end, all in one submit; without it each step is submitted alone and
// timed on the CPU (which adds the submit and wait overhead, ~50 us here, to every step).
import { createBuffer, readBack, sleep, withGpuErrors } from '../gpu/buffers.js';
import { isSoftwareAdapter } from '../gpu/device.js';
import { type Step, encodeSteps } from '../kernels/common.js';

export interface StepTime {
  label: string;
  detail: string;
  flops: number;
  /** minimum bytes moved, for memory-bound steps (Step.bytes) */
  bytes?: number;
  /** median over the repetitions */
  ms: number;
}

export async function profileSteps(device: GPUDevice, steps: readonly Step[], reps = 3): Promise<{ method: string; times: StepTime[] }> {
  const perStep: number[][] = steps.map(() => []);
  // sleep before waiting only where polling would take a core from the adapter (src/gpu/buffers.ts readBack)
  const software = isSoftwareAdapter(device);
  if (device.features.has('timestamp-query')) {
    const count = steps.length * 2;
    const querySet = device.createQuerySet({ type: 'timestamp', count });
    const resolve = createBuffer(device, 'timestamps', count * 8, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
    const read = createBuffer(device, 'timestamps readback', count * 8, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    let lastMs = 0;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      // a rejected submission would leave the timestamps of the previous one: fail instead (GpuError)
      const { errors } = withGpuErrors(device, 'profiling the steps', () => {
        const encoder = device.createCommandEncoder({ label: 'profile' });
        steps.forEach((s, i) => {
          const pass = encoder.beginComputePass({ timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
          encodeSteps(pass, [s]);
          pass.end();
        });
        encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
        encoder.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
        device.queue.submit([encoder.finish()]);
      });
      const error = await errors;
      if (error) throw error;
      const ns = new BigUint64Array(await readBack(read, count * 8, software ? lastMs : 0));
      lastMs = performance.now() - t0;
      steps.forEach((_, i) => perStep[i].push(Number(ns[2 * i + 1] - ns[2 * i]) / 1e6));
    }
    querySet.destroy();
    resolve.destroy();
    read.destroy();
  } else {
    for (let r = 0; r < reps; r++) {
      for (const [i, s] of steps.entries()) {
        const t0 = performance.now();
        const { errors } = withGpuErrors(device, `profiling ${s.label}`, () => {
          const encoder = device.createCommandEncoder();
          const pass = encoder.beginComputePass();
          encodeSteps(pass, [s]);
          pass.end();
          device.queue.submit([encoder.finish()]);
        });
        const error = await errors;
        if (error) throw error;
        const last = perStep[i].length ? Math.min(...perStep[i]) : 0;
        if (software && last > 2) await sleep(last * 0.9);
        await device.queue.onSubmittedWorkDone();
        perStep[i].push(performance.now() - t0);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return {
    method: device.features.has('timestamp-query') ? 'timestamp-query' : 'one submit per dispatch',
    times: steps.map((s, i) => ({ label: s.label, detail: s.detail, flops: s.flops, ...(s.bytes ? { bytes: s.bytes } : {}), ms: median(perStep[i]) })),
  };
}
