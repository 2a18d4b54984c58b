// CPU reference: relu and sigmoid.
import type { Activation } from '../common.js';
import type { Tensor } from './tensor.js';

export function applyActivation(act: Activation, v: number): number {
  if (act === 'relu') return Math.max(v, 0);
  if (act === 'sigmoid') return 1 / (1 + Math.exp(-v));
  return v;
}

export function unary(op: Exclude<Activation, 'none'>, x: Tensor): Tensor {
  return { data: x.data.map((v) => applyActivation(op, v)), shape: [...x.shape] };
}
