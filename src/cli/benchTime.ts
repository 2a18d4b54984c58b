// Timing helpers shared by `unet bench` and bench/peers.ts: inputs, statistics, interleaved runs of
// several contenders, back-to-back forwards on a resident input, output checks, plain-text tables.
import { createBuffer, readBack, sleep, withGpuErrors } from '../gpu/buffers.js';
import { isSoftwareAdapter } from '../gpu/device.js';
import type { Plan } from '../compiler/plan.js';

/** Median, 10th and 90th percentile (nearest rank) of n samples, in ms. */
export interface Stats {
  median: number;
  p10: number;
  p90: number;
  n: number;
}

export function summarize(ms: readonly number[]): Stats {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.max(0, Math.min(s.length - 1, Math.ceil(s.length * q) - 1))];
  return { median: at(0.5), p10: at(0.1), p90: at(0.9), n: s.length };
}

/** Seeded input with the statistics of a normalized image: N x C x s x s (2D), or N x C x D x H x W when `s`
 *  lists the spatial sizes [D, H, W] (a volume; [H, W] is an image). */
export function benchInput(n: number, c: number, s: number | readonly number[], seed: number): Float32Array {
  // image-like: a smooth field (a few seeded waves per channel) plus a little noise, about unit scale.
  // Pure noise is no image, and deep random-weight networks (EfficientNet's squeeze-excite stacks) can
  // be so ill-conditioned on it that PyTorch's own f32 forward is 0.5 away from its f64 one.
  let a = seed >>> 0;
  const rand = () => (a = (Math.imul(a, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const [D, H, W] = typeof s === 'number' ? [1, s, s] : s.length === 3 ? s : [1, s[0], s[1]];
  const x = new Float32Array(n * c * D * H * W);
  for (let b = 0; b < n * c; b++) {
    // a volume's channel draws its depth wave after the image's four numbers, so 2D inputs are as they were
    const [fy, fx, py, px] = [1 + 3 * rand(), 1 + 3 * rand(), 6.28 * rand(), 6.28 * rand()];
    const [fz, pz] = D > 1 ? [1 + 3 * rand(), 6.28 * rand()] : [0, 0];
    for (let z = 0; z < D; z++) {
      const wz = D > 1 ? Math.cos((fz * 6.28 * z) / D + pz) : 1;
      for (let y = 0; y < H; y++) {
        for (let i = 0; i < W; i++) {
          x[((b * D + z) * H + y) * W + i] = wz * Math.sin((fy * 6.28 * y) / H + py) * Math.cos((fx * 6.28 * i) / W + px) + 0.3 * (rand() - 0.5);
        }
      }
    }
  }
  return x;
}

export interface Check {
  maxAbs: number;
  /** maxAbs / max(1, max |want|): the error on the output's own scale (logits of nnU-Net reach tens) */
  maxRel: number;
  /** share of positions given the same label: on the same side of 0.5 (one output or sigmoid masks), or the
   *  same argmax over the channels (`channels` > 1: logits or probabilities of classes) */
  maskAgreement: number;
}

/** Largest |got - want|, relative to the output's scale, and the share of positions labelled alike. Outputs are
 *  [batch, channels, ...spatial]; with `channels` > 1 the label of a position is its argmax over them. */
export function compare(got: ArrayLike<number>, want: ArrayLike<number>, channels = 1, batch = 1): Check {
  if (got.length !== want.length) throw new Error(`compare: ${got.length} values against ${want.length}`);
  let maxAbs = 0;
  let scale = 1;
  for (let i = 0; i < got.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  let agree = 0;
  if (channels === 1) {
    for (let i = 0; i < got.length; i++) agree += Number(got[i] > 0.5 === want[i] > 0.5);
    return { maxAbs, maxRel: maxAbs / scale, maskAgreement: agree / got.length };
  }
  // position p of image n, channel c, is at (n * channels + c) * plane + p
  const plane = got.length / channels / batch;
  const argmax = (t: ArrayLike<number>, base: number) => {
    let best = 0;
    for (let c = 1; c < channels; c++) if (t[base + c * plane] > t[base + best * plane]) best = c;
    return best;
  };
  for (let n = 0; n < batch; n++) {
    for (let p = 0; p < plane; p++) agree += Number(argmax(got, n * channels * plane + p) === argmax(want, n * channels * plane + p));
  }
  return { maxAbs, maxRel: maxAbs / scale, maskAgreement: agree / (batch * plane) };
}

/** A contender: one call runs one forward and resolves to its milliseconds (measured as it sees fit). */
export interface Contender {
  name: string;
  once(): Promise<number>;
}

/**
 * `warmup` untimed rounds, then `runs` timed ones; each round runs every contender once, the order
 * rotating from round to round, so all of them see the same load on a shared machine.
 */
export async function interleaved(contenders: readonly Contender[], warmup: number, runs: number): Promise<Map<string, number[]>> {
  const times = new Map(contenders.map((c) => [c.name, [] as number[]]));
  for (let r = 0; r < warmup + runs; r++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(r + k) % contenders.length];
      const ms = await c.once();
      if (r >= warmup) times.get(c.name)!.push(ms);
    }
  }
  return times;
}

/** Wall time of one async call, in ms. */
export async function wallMs(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

export interface ResidentTimes {
  /** from the first submit to the last forward's end, / count: throughput without upload or readback */
  msPerForward: number;
  /** per forward: the timestamps at its compute pass's start and end (timestamp-query only) */
  gpu?: Stats;
  /** between the starts of consecutive forwards (timestamps), else between their ends as seen on the CPU */
  period: Stats;
}

/**
 * `count` forwards submitted back to back, one command buffer each, on the input already in the plan's
 * input buffer (Plan.upload). With timestamp-query each forward's compute pass is bracketed by a
 * timestamp pair. Each command buffer also clears a 4-byte marker buffer of its own; mapping marker k
 * resolves when forward k is done. On a software adapter the wait for each marker starts after sleeping
 * through 90% of a forward (`expectedMs` at first, then the last one's), as Plan.run does: Dawn polls a
 * core while any map is pending, which there slows the forwards themselves (src/gpu/buffers.ts).
 */
export async function residentForwards(device: GPUDevice, plan: Plan, count: number, expectedMs: number): Promise<ResidentTimes> {
  const stamps = device.features.has('timestamp-query') ? 2 * count : 0;
  const querySet = stamps ? device.createQuerySet({ type: 'timestamp', count: stamps, label: 'forward timestamps' }) : undefined;
  const markers = Array.from({ length: count }, (_, k) => createBuffer(device, `forward ${k} done`, 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST));
  const resolve = stamps ? createBuffer(device, 'timestamps', stamps * 8, GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC) : undefined;
  const read = stamps ? createBuffer(device, 'timestamps readback', stamps * 8, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST) : undefined;
  try {
    const t0 = performance.now();
    // a rejected submission must fail the measure (GpuError), not time nothing
    const { errors } = withGpuErrors(device, `timing ${count} forwards`, () => {
      for (let k = 0; k < count; k++) {
        const encoder = device.createCommandEncoder({ label: 'forward' });
        plan.encode(encoder, querySet && { querySet, beginningOfPassWriteIndex: 2 * k, endOfPassWriteIndex: 2 * k + 1 });
        encoder.clearBuffer(markers[k]);
        device.queue.submit([encoder.finish()]);
      }
    });
    const error = await errors;
    if (error) throw error;
    const software = isSoftwareAdapter(device);
    const ends: number[] = [];
    let forwardMs = expectedMs;
    for (const [k, marker] of markers.entries()) {
      if (software && forwardMs > 2) await sleep(0.9 * forwardMs);
      await marker.mapAsync(GPUMapMode.READ);
      ends.push(performance.now());
      forwardMs = ends[k] - (k ? ends[k - 1] : t0);
    }
    const msPerForward = (ends[count - 1] - t0) / count;
    const cpuPeriods = ends.slice(1).map((e, k) => e - ends[k]);
    if (!querySet || !resolve || !read) return { msPerForward, period: summarize(cpuPeriods.length ? cpuPeriods : [msPerForward]) };
    const encoder = device.createCommandEncoder({ label: 'resolve timestamps' });
    encoder.resolveQuerySet(querySet, 0, stamps, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, stamps * 8);
    device.queue.submit([encoder.finish()]);
    const ns = new BigUint64Array(await readBack(read, stamps * 8));
    const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
    const gpu = Array.from({ length: count }, (_, k) => ms(ns[2 * k], ns[2 * k + 1]));
    const period = Array.from({ length: count - 1 }, (_, k) => ms(ns[2 * k], ns[2 * k + 2]));
    return { msPerForward, gpu: summarize(gpu), period: summarize(period.length ? period : gpu) };
  } finally {
    querySet?.destroy();
    for (const b of [...markers, resolve, read]) b?.destroy();
  }
}

/** Columns padded to their widest cell, the first left-aligned, the others right-aligned; a row of two
 *  cells under a wider head is a note (its second cell runs on). */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, k) => Math.max(h.length, ...rows.map((r) => (r.length === 2 && k > 0 ? 0 : (r[k] ?? '').length))));
  const line = (cells: string[]) =>
    cells.length === 2 && head.length > 2
      ? `${cells[0].padEnd(widths[0])}  ${cells[1]}`
      : cells.map((c, k) => (k === 0 ? c.padEnd(widths[k]) : c.padStart(widths[k]))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}
