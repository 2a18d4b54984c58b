// smp's SegmentationHead (`base/heads.py`): conv 3x3 pad 1 with bias, Identity (upsampling 1), then the
// activation; keys `segmentation_head.0.{weight,bias}`.
import type { GraphBuilder, ValueId } from '../../ir/graph.js';
import type { TensorReader } from '../reader.js';
import type { OutputActivation } from '../types.js';

export function segmentationHead(b: GraphBuilder, r: TensorReader, x: ValueId, classes: number, activation: OutputActivation): ValueId {
  const y = b.conv2d('segmentation_head.0', x, r.conv('segmentation_head.0', [classes, b.channels(x), 3, 3], true), { padding: 1 });
  if (activation === 'sigmoid' || activation === 'tanh') return b.activation(`segmentation_head.2.${activation}`, y, activation);
  if (activation === 'softmax' || activation === 'logsoftmax') return b.softmax(`segmentation_head.2.${activation}`, y, activation === 'logsoftmax');
  return y;
}
