// CPU reference: act(a + b).
import type { Activation } from '../../ir/types.js';
import type { Tensor } from './tensor.js';
import { applyActivation } from './unary.js';

export function add(a: Tensor, b: Tensor, activation: Activation = 'none'): Tensor {
  return { data: a.data.map((v, i) => applyActivation(activation, v + b.data[i])), shape: [...a.shape] };
}
