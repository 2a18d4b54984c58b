// smp's `UnetPlusPlus` decoder (`decoders/unetplusplus/decoder.py`, current main): a nested grid of decoder
// blocks `decoder.blocks.x_{d}_{l}`. With f the encoder's features without x, deepest first, block x_d_l
// up-samples x_d_{l-1} (for l = d: f[d]) and concatenates, in this order, x_{d+1}_l ... x_l_l and f[l+1]
// (every earlier node of its column, then the encoder's skip); then attention1, conv1, conv2, attention2,
// as the Unet's blocks. Its output has decoder_channels[l] channels in row 0, f[l+1]'s elsewhere. The last
// block x_0_{depth-1} up-samples x_0_{depth-2} to the input's size, with no skip.
//
// smp up-samples by scale_factor 2 and refuses inputs whose H or W is not a multiple of the encoder's
// output stride (2^depth): so here sizes are padded to that multiple and each block resizes to its skip's
// size, which is then exactly twice its input's.
import type { ValueId } from '../../../ir/graph.js';
import type { SmpDecoder } from '../types.js';
import { conv2dReLU, scse } from '../blocks.js';

export const unetPlusPlusDecoder: SmpDecoder = {
  modelClass: 'UnetPlusPlus',
  architecture: 'smp-unetplusplus',
  // smp's forward needs a grid of at least one column: at depth 1 it looks up a block x_0_-1
  minDepth: 2,
  levelKey: /^decoder\.blocks\.x_0_(\d+)\./,
  block: (level) => `decoder.blocks.x_0_${level}`,
  sizeMultiple: (depth) => 2 ** depth,

  build(b, r, features, s) {
    const f = features.slice(1).reverse();
    const dense = new Map<string, ValueId>();
    /** block x_d_l on x, with the skips concatenated after it (none for the last block) */
    const block = (d: number, l: number, x: ValueId, skips: ValueId[], target: ValueId): ValueId => {
      const name = `decoder.blocks.x_${d}_${l}`;
      let y = b.resize(`${name}.interpolate`, x, target, s.interpolation);
      if (skips.length > 0) {
        // the concat op joins two values (one of them placed for free where it can): torch.cat of more is
        // a chain of them, left to right
        skips.forEach((skip, i) => (y = b.concat(i === 0 ? `${name}.cat` : `${name}.cat${i}`, [y, skip])));
        if (s.attention) y = scse(b, r, y, `${name}.attention1`);
      } else {
        // smp builds attention1 for the last block too, but applies it only after a skip concat
        r.skip((k) => k.startsWith(`${name}.attention1.`));
      }
      const cout = d === 0 ? s.decoderChannels[l] : b.channels(f[l + 1]);
      y = conv2dReLU(b, r, y, `${name}.conv1`, cout, s.useNorm);
      y = conv2dReLU(b, r, y, `${name}.conv2`, cout, s.useNorm);
      if (s.attention) y = scse(b, r, y, `${name}.attention2`);
      dense.set(`x_${d}_${l}`, y);
      return y;
    };
    const last = s.depth - 1;
    for (let layer = 0; layer < last; layer++) {
      for (let d = 0; d < last - layer; d++) {
        const l = d + layer;
        const x = layer === 0 ? f[d] : dense.get(`x_${d}_${l - 1}`)!;
        const column = Array.from({ length: l - d }, (_, i) => dense.get(`x_${d + 1 + i}_${l}`)!);
        block(d, l, x, [...column, f[l + 1]], f[l + 1]);
      }
    }
    return block(0, last, dense.get(`x_0_${last - 1}`)!, [], features[0]);
  },
};
