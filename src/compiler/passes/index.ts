// The inference passes, in order. Each takes a graph and returns a new one (the input is not modified).
import type { Graph } from '../../ir/graph.js';
import { foldBatchNorm } from './foldBatchNorm.js';
import { fuseActivation } from './fuseActivation.js';
import { fuseChannelScale } from './fuseChannelScale.js';
import { fuseNorm } from './fuseNorm.js';
import { fuseResidual } from './fuseResidual.js';
import { placeConcat } from './placeConcat.js';

export { foldBatchNorm, fuseActivation, fuseChannelScale, fuseNorm, fuseResidual, placeConcat };

export function optimize(g: Graph): Graph {
  return placeConcat(fuseActivation(fuseChannelScale(fuseResidual(fuseNorm(foldBatchNorm(g))))));
}
