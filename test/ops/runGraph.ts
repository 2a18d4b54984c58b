// Runs a graph once on the GPU as a model would (passes, packing, plan), for the op tests.
import type { Graph, Shape } from '../../src/ir/graph.js';
import { uploadParams } from '../../src/compiler/params.js';
import { optimize } from '../../src/compiler/passes/index.js';
import { compilePlan } from '../../src/compiler/plan.js';
import { type Tuning, tuningFor } from '../../src/compiler/tuning.js';
import { adapterOf } from '../../src/gpu/device.js';

export async function runGraph(
  device: GPUDevice,
  g: Graph,
  input: Float32Array,
  shape: Shape,
  f16 = false,
  tuning: Tuning = tuningFor(device, adapterOf(device)),
): Promise<Float32Array> {
  const opt = optimize(g);
  const params = uploadParams(device, opt, tuning, f16);
  const plan = compilePlan(device, opt, params, tuning, shape, undefined, f16);
  try {
    return await plan.run(input);
  } finally {
    plan.dispose();
    params.destroy();
  }
}
