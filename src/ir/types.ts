// The IR's neutral types: words the graph, the kernels, the ops, the architectures and the API all use.
// They sit below every layer (they import only errors), so no layer reaches into another for them.
import { InputError } from '../errors.js';
import { shownValue } from '../limits.js';

/** Epilogue activations that conv kernels can apply before storing (src/kernels/common.ts activationWgsl).
 *  `leakyRelu:<slope>` is nn.LeakyReLU(negative_slope) (nnU-Net's nonlin, slope 0.01 by default). */
export type Activation = 'none' | 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'silu' | LeakyRelu;

export type LeakyRelu = `leakyRelu:${number}`;

/** nn.LeakyReLU(negative_slope) as an Activation; the slope must be a finite number. */
export function leakyRelu(slope: number): LeakyRelu {
  if (!Number.isFinite(slope)) throw new InputError(`LeakyReLU negative_slope must be a finite number, found ${shownValue(slope, 40)}`);
  return `leakyRelu:${slope}`;
}

/** The negative slope of a leakyRelu activation, or undefined for the others. */
export function leakySlope(act: Activation): number | undefined {
  return act.startsWith('leakyRelu:') ? Number(act.slice('leakyRelu:'.length)) : undefined;
}

/** What the network's last layer is followed by. */
export type OutputActivation = 'identity' | 'sigmoid' | 'softmax' | 'logsoftmax' | 'tanh';

/** How an input smaller than the size the model runs at is padded: zeros or a mirror image. */
export type PadMode = 'zero' | 'reflect';

/** `v` as a PadMode, or an error naming `what` and the value found (never a silent default). */
export function checkPadMode(v: unknown, what = 'pad'): PadMode {
  if (v === 'reflect' || v === 'zero') return v;
  throw new InputError(`${what} must be 'reflect' or 'zero', found ${shownValue(v, 80)}`);
}
