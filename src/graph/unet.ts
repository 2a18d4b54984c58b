// Builds the graph of the brain-segmentation U-Net (mateuszbuda/brain-segmentation-pytorch) from its
// parameters, node names following the PyTorch modules: encoder1.enc1conv1, ..., upconv4, decoder4, conv.
import type { UNetBlockParams, UNetParams } from '../weights/types.js';
import { type Graph, GraphBuilder, type ValueId } from './ir.js';

function block(b: GraphBuilder, x: ValueId, p: UNetBlockParams, module: string, prefix: string): ValueId {
  x = b.conv2d(`${module}.${prefix}conv1`, x, p.conv1, { padding: 1 });
  x = b.batchNorm(`${module}.${prefix}norm1`, x, p.norm1);
  x = b.relu(`${module}.${prefix}relu1`, x);
  x = b.conv2d(`${module}.${prefix}conv2`, x, p.conv2, { padding: 1 });
  x = b.batchNorm(`${module}.${prefix}norm2`, x, p.norm2);
  return b.relu(`${module}.${prefix}relu2`, x);
}

export function buildUNet(p: UNetParams): Graph {
  const b = new GraphBuilder();
  const input = b.value('input', p.inChannels);
  const skips: ValueId[] = [];
  let x = input;
  for (let i = 1; i <= p.depth; i++) {
    const enc = block(b, x, p.encoders[i - 1], `encoder${i}`, `enc${i}`);
    skips.push(enc);
    x = b.maxPool2x2(`pool${i}`, enc);
  }
  x = block(b, x, p.bottleneck, 'bottleneck', 'bottleneck');
  for (let i = p.depth; i >= 1; i--) {
    const up = b.convTranspose2x2(`upconv${i}`, x, p.upconvs[i - 1]);
    // torch.cat((dec, enc), dim=1): the up-sampled map first, then the skip connection
    const cat = b.concat(`cat${i}`, [up, skips[i - 1]]);
    x = block(b, cat, p.decoders[i - 1], `decoder${i}`, `dec${i}`);
  }
  const logits = b.conv2d('conv', x, p.head);
  return b.finish(input, b.sigmoid('sigmoid', logits));
}

/** H and W must be multiples of this (each level halves them, and the decoder doubles them back). */
export const unetSizeMultiple = (p: Pick<UNetParams, 'depth'>): number => 2 ** p.depth;
