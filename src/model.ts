// A loaded U-Net: weights on the GPU, optimized graph, and one compiled plan per input shape.
import { platform } from './gpu/platform.js';
import { type Graph, type Shape } from './graph/ir.js';
import { optimize } from './graph/passes/index.js';
import { type Padding, type Plan, compilePlan } from './graph/plan.js';
import type { PadMode } from './kernels/layout.js';
import { type ParamStore, uploadParams } from './graph/params.js';
import { type Tuning, fixedSubgroupSize, tuningFor } from './graph/tuning.js';
import { cachedTuning } from './graph/tune.js';
import { buildUNet, unetSizeMultiple } from './graph/unet.js';
import { adapterOf } from './gpu/device.js';
import { parseSafetensors } from './weights/safetensors.js';
import type { UNetParams } from './weights/types.js';
import { countParameters, unetParamsFromSafetensors } from './weights/unet.js';

/** An NCHW float32 tensor. */
export interface TensorData {
  data: Float32Array;
  shape: readonly number[];
}

export interface ModelInfo {
  architecture: 'unet';
  inChannels: number;
  outChannels: number;
  /** init_features */
  features: number;
  depth: number;
  /** the network runs at multiples of this size (other inputs are padded, their outputs cropped) */
  sizeMultiple: number;
  /** learned parameters (conv weights and biases, BatchNorm affine and running statistics) */
  parameters: number;
  /** bytes of the packed weights on the GPU (BatchNorm folded in, channels padded to vec4) */
  weightBytes: number;
  /** where the weights came from (file name or '<bytes>') */
  source: string;
  /** the `__metadata__` of the weights file */
  metadata: Record<string, string>;
  /** where the kernel configuration came from: 'given' (LoadOptions.tuning), 'measured' (cached by
   *  `unet tune` for this adapter and architecture) or 'default' (picked by adapter class) */
  tuning: 'given' | 'measured' | 'default';
  precision: 'f32' | 'f16';
}

export interface LoadOptions {
  /** override the kernel tuning picked for the adapter */
  tuning?: Tuning;
  /** how inputs whose H or W is not a multiple of info.sizeMultiple are padded (default 'reflect') */
  pad?: PadMode;
  /** 'f16' stores weights and activations as f16 (half the memory and bandwidth; sums stay f32);
   *  needs the adapter's shader-f16 feature. Default 'f32'. */
  precision?: 'f32' | 'f16';
}

export interface RunOptions {
  /** overrides LoadOptions.pad for this call */
  pad?: PadMode;
}

export type WeightsSource = Uint8Array | ArrayBuffer | string;

export class Model {
  private readonly plans = new Map<string, Plan>();
  /** runs are chained so concurrent calls reuse a plan's buffers one after another */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly device: GPUDevice,
    readonly info: ModelInfo,
    readonly graph: Graph,
    private readonly params: ParamStore,
    private readonly tuning: Tuning,
    private readonly padMode: PadMode = 'reflect',
  ) {}

  /**
   * Runs the network: input NCHW [N, inChannels, H, W] -> sigmoid probabilities [N, outChannels, H, W].
   * Any H x W works: the input is padded (centred) to multiples of info.sizeMultiple on the GPU and the
   * output cropped back, which equals PyTorch on the padded input, cropped.
   */
  run(input: TensorData, options: RunOptions = {}): Promise<{ data: Float32Array; shape: Shape }> {
    const result = this.queue.then(async () => {
      const plan = await this.checkedPlan(input.shape, options);
      if (input.data.length !== plan.inputShape.reduce((a, b) => a * b, 1)) {
        throw new Error(`input: data has ${input.data.length} values, shape [${input.shape}] needs ${plan.inputShape.reduce((a, b) => a * b, 1)}`);
      }
      return { data: await plan.run(input.data), shape: plan.outputShape };
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The compiled plan for an input shape (compiled on first use, then cached). */
  plan(shape: readonly number[], options: RunOptions = {}): Plan {
    if (this.disposed) throw new Error('this model was disposed: load it again to run it');
    const s = this.checkShape(shape);
    const padding = this.padding(s, options.pad ?? this.padMode);
    const key = this.planKey(s, padding);
    let plan = this.plans.get(key);
    if (!plan) {
      plan = compilePlan(this.device, this.graph, this.params, this.tuning, s, padding, this.info.precision === 'f16');
      this.plans.set(key, plan);
    }
    return plan;
  }

  private planKey(s: Shape, p: Padding): string {
    return `${s.join('x')}/${p.mode}`;
  }

  /** Centred padding to the next multiples of sizeMultiple. */
  private padding([, , H, W]: Shape, mode: PadMode): Padding {
    const m = this.info.sizeMultiple;
    const [PH, PW] = [Math.ceil(H / m) * m, Math.ceil(W / m) * m];
    return { H: PH, W: PW, top: (PH - H) >> 1, left: (PW - W) >> 1, mode };
  }

  /** plan(), with the WebGPU validation errors of a first compile turned into an exception. */
  private async checkedPlan(shape: readonly number[], options: RunOptions): Promise<Plan> {
    const s = this.checkShape(shape);
    const key = this.planKey(s, this.padding(s, options.pad ?? this.padMode));
    const compiled = this.plans.has(key);
    if (!compiled) this.device.pushErrorScope('validation');
    const plan = this.plan(shape, options);
    const err = compiled ? null : await this.device.popErrorScope();
    if (err) {
      this.plans.delete(key);
      plan.dispose();
      throw new Error(`compiling the U-Net for input [${shape}] failed: ${err.message.split('\n')[0]}`);
    }
    return plan;
  }

  private checkShape(shape: readonly number[]): Shape {
    if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`input: shape [${shape}] is not [N, C, H, W] with positive integer sizes`);
    }
    const C = shape[1];
    if (C !== this.info.inChannels) throw new Error(`input: has ${C} channels, the model expects ${this.info.inChannels}`);
    return [...shape] as Shape;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.plans.values()) p.dispose();
    this.plans.clear();
    this.params.buffer.destroy();
  }
}

async function readWeights(weights: WeightsSource): Promise<{ bytes: Uint8Array; source: string }> {
  if (typeof weights === 'string') {
    const p = platform();
    if (!p.readFile) throw new Error(`cannot read "${weights}": file paths work in Node only; pass the file's bytes`);
    let bytes: Uint8Array;
    try {
      bytes = await p.readFile(weights);
    } catch (e) {
      throw new Error(`${weights}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return { bytes, source: weights };
  }
  return { bytes: weights instanceof Uint8Array ? weights : new Uint8Array(weights), source: '<bytes>' };
}

/** Loads a brain-segmentation U-Net from a safetensors state_dict (bytes, or a path in Node). */
export async function loadModel(device: GPUDevice, weights: WeightsSource, options: LoadOptions = {}): Promise<Model> {
  const { bytes, source } = await readWeights(weights);
  const st = parseSafetensors(bytes, source);
  const params = unetParamsFromSafetensors(st);
  let tuning = options.tuning;
  let tuningSource: ModelInfo['tuning'] = tuning ? 'given' : 'default';
  if (!tuning) {
    const cached = await cachedTuning(adapterOf(device), architectureKey(params));
    if (cached && usable(device, cached)) {
      tuning = cached;
      tuningSource = 'measured';
    }
  }
  return modelFromParams(device, params, { ...options, tuning, tuningSource, source, metadata: st.metadata });
}

/** What tuned layer keys depend on: the architecture, not the weights. */
export function architectureKey(p: Pick<UNetParams, 'inChannels' | 'outChannels' | 'features' | 'depth'>): string {
  return `unet in${p.inChannels} out${p.outChannels} f${p.features} d${p.depth}`;
}

/** A cached tuning is only as good as the device it was measured on: subgroup kernels need the same size. */
function usable(device: GPUDevice, t: Tuning): boolean {
  const size = fixedSubgroupSize(device, adapterOf(device));
  return [t.conv2d, t.convTranspose2x2, ...Object.values(t.layers ?? {})].every((k) => k.weights !== 'subgroup' || k.subgroupSize === size);
}

export function modelFromParams(
  device: GPUDevice,
  params: UNetParams,
  options: LoadOptions & { source?: string; metadata?: Record<string, string>; tuningSource?: ModelInfo['tuning'] } = {},
): Model {
  const tuning = options.tuning ?? tuningFor(device, adapterOf(device));
  const precision = options.precision ?? 'f32';
  if (precision !== 'f32' && precision !== 'f16') throw new Error(`precision must be 'f32' or 'f16', found ${JSON.stringify(precision)}`);
  if (precision === 'f16' && !device.features.has('shader-f16')) {
    throw new Error("precision 'f16' needs the adapter's shader-f16 feature, which this device does not have; use 'f32'");
  }
  const graph = optimize(buildUNet(params));
  const store = uploadParams(device, graph, tuning, precision === 'f16');
  const info: ModelInfo = {
    architecture: 'unet',
    inChannels: params.inChannels,
    outChannels: params.outChannels,
    features: params.features,
    depth: params.depth,
    sizeMultiple: unetSizeMultiple(params),
    parameters: countParameters(params),
    weightBytes: store.sizeBytes,
    source: options.source ?? '<params>',
    metadata: options.metadata ?? {},
    tuning: options.tuningSource ?? (options.tuning ? 'given' : 'default'),
    precision,
  };
  return new Model(device, info, graph, store, tuning, options.pad);
}
