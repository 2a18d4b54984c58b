// CPU reference: the elementwise activations.
import { type Activation, leakySlope } from '../../ir/types.js';
import type { Tensor } from './tensor.js';

export function applyActivation(act: Activation, v: number): number {
  if (act === 'relu') return Math.max(v, 0);
  // Math.max / Math.min keep NaN, as PyTorch does
  if (act === 'relu6') return Math.min(Math.max(v, 0), 6);
  if (act === 'sigmoid') return 1 / (1 + Math.exp(-v));
  if (act === 'tanh') return Math.tanh(v);
  if (act === 'silu') return v / (1 + Math.exp(-v));
  const slope = leakySlope(act);
  if (slope !== undefined) return v >= 0 ? v : Math.fround(slope) * v;
  return v;
}

export function unary(op: Exclude<Activation, 'none'>, x: Tensor): Tensor {
  return { data: x.data.map((v) => applyActivation(op, v)), shape: [...x.shape] };
}
