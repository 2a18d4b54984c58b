// smp's `Unet` decoder (`decoders/unet/decoder.py`, current main). Features [x, f1, ..., fd] -> head = fd
// (decoder.center is Identity for the encoders here); block i interpolates to the size of the next
// shallower feature (the input's for the last block, which has no skip), concatenates the skip, applies
// attention1, conv1, conv2 and attention2. Any input size runs.
import type { SmpDecoder } from '../types.js';
import { conv2dReLU, scse } from '../blocks.js';

export const unetDecoder: SmpDecoder = {
  modelClass: 'Unet',
  architecture: 'smp-unet',
  minDepth: 1,
  levelKey: /^decoder\.blocks\.(\d+)\./,
  block: (level) => `decoder.blocks.${level}`,
  sizeMultiple: () => 1,

  build(b, r, features, s) {
    let x = features[s.depth];
    for (let i = 0; i < s.depth; i++) {
      const name = `decoder.blocks.${i}`;
      const target = features[s.depth - 1 - i];
      x = b.resize(`${name}.interpolate`, x, target, s.interpolation);
      if (i < s.depth - 1) {
        x = b.concat(`${name}.cat`, [x, target]);
        if (s.attention) x = scse(b, r, x, `${name}.attention1`);
      } else {
        // smp builds attention1 for the last block too, but applies it only after a skip concat
        r.skip((k) => k.startsWith(`${name}.attention1.`));
      }
      x = conv2dReLU(b, r, x, `${name}.conv1`, s.decoderChannels[i], s.useNorm);
      x = conv2dReLU(b, r, x, `${name}.conv2`, s.decoderChannels[i], s.useNorm);
      if (s.attention) x = scse(b, r, x, `${name}.attention2`);
    }
    return x;
  },
};
