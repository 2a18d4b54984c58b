// CPU reference: nn.MaxPool2d(kernel_size=2, stride=2), floor mode (an odd last row/column is dropped).
import { maxPool2d } from './maxPool2d.js';
import type { Tensor } from './tensor.js';

export const maxPool2x2 = (x: Tensor): Tensor => maxPool2d(x, 2, 2, 0);
