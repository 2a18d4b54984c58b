// A loaded U-Net: weights on the GPU, optimized graph, and one compiled plan per input shape.
import { platform } from './gpu/platform.js';
import { type Graph, type Shape } from './graph/ir.js';
import { optimize } from './graph/passes/index.js';
import { type Plan, compilePlan } from './graph/plan.js';
import { type ParamStore, uploadParams } from './graph/params.js';
import { type Tuning, tuningFor } from './graph/tuning.js';
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
  /** H and W of an input must be multiples of this */
  sizeMultiple: number;
  /** learned parameters (conv weights and biases, BatchNorm affine and running statistics) */
  parameters: number;
  /** bytes of the packed weights on the GPU (BatchNorm folded in, channels padded to vec4) */
  weightBytes: number;
  /** where the weights came from (file name or '<bytes>') */
  source: string;
  /** the `__metadata__` of the weights file */
  metadata: Record<string, string>;
}

export interface LoadOptions {
  /** override the kernel tuning picked for the adapter */
  tuning?: Tuning;
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
  ) {}

  /** Runs the network: input NCHW [N, inChannels, H, W] -> sigmoid probabilities [N, outChannels, H, W]. */
  run(input: TensorData): Promise<{ data: Float32Array; shape: Shape }> {
    const result = this.queue.then(async () => {
      const plan = await this.checkedPlan(input.shape);
      if (input.data.length !== plan.inputShape.reduce((a, b) => a * b, 1)) {
        throw new Error(`input: data has ${input.data.length} values, shape [${input.shape}] needs ${plan.inputShape.reduce((a, b) => a * b, 1)}`);
      }
      return { data: await plan.run(input.data), shape: plan.outputShape };
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** The compiled plan for an input shape (compiled on first use, then cached). */
  plan(shape: readonly number[]): Plan {
    if (this.disposed) throw new Error('this model was disposed: load it again to run it');
    const s = this.checkShape(shape);
    const key = s.join('x');
    let plan = this.plans.get(key);
    if (!plan) {
      plan = compilePlan(this.device, this.graph, this.params, this.tuning, s);
      this.plans.set(key, plan);
    }
    return plan;
  }

  /** plan(), with the WebGPU validation errors of a first compile turned into an exception. */
  private async checkedPlan(shape: readonly number[]): Promise<Plan> {
    const compiled = this.plans.has(this.checkShape(shape).join('x'));
    if (!compiled) this.device.pushErrorScope('validation');
    const plan = this.plan(shape);
    const err = compiled ? null : await this.device.popErrorScope();
    if (err) {
      this.plans.delete(plan.inputShape.join('x'));
      plan.dispose();
      throw new Error(`compiling the U-Net for input [${shape}] failed: ${err.message.split('\n')[0]}`);
    }
    return plan;
  }

  private checkShape(shape: readonly number[]): Shape {
    const { inChannels, sizeMultiple } = this.info;
    if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`input: shape [${shape}] is not [N, C, H, W] with positive integer sizes`);
    }
    const [, C, H, W] = shape;
    if (C !== inChannels) throw new Error(`input: has ${C} channels, the model expects ${inChannels}`);
    if (H % sizeMultiple || W % sizeMultiple) {
      throw new Error(`input: ${H}x${W} is not a multiple of ${sizeMultiple} (the U-Net halves the size ${this.info.depth} times)`);
    }
    return shape as Shape;
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
  return modelFromParams(device, params, { ...options, source, metadata: st.metadata });
}

export function modelFromParams(
  device: GPUDevice,
  params: UNetParams,
  options: LoadOptions & { source?: string; metadata?: Record<string, string> } = {},
): Model {
  const tuning = options.tuning ?? tuningFor(device, adapterOf(device));
  const graph = optimize(buildUNet(params));
  const store = uploadParams(device, graph, tuning);
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
  };
  return new Model(device, info, graph, store, tuning);
}
