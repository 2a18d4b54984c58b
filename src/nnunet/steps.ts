// Where nnU-Net's sliding windows start (nnunetv2/inference/sliding_window_prediction.py
// compute_steps_for_sliding_window) and how it pads a volume smaller than the patch (acvl_utils pad_nd_image,
// constant 0, as predict_sliding_window_return_logits calls it).
import { InputError } from '../errors.js';

/** numpy's round: half to even (np.round(2.5) = 2), unlike Math.round. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * compute_steps_for_sliding_window(image_size, tile_size, tile_step_size): per axis, the window starts,
 * ceil((image - tile) / (tile * step)) + 1 of them, spread evenly from 0 to image - tile and rounded half to even.
 */
export function computeSteps(imageSize: readonly number[], tileSize: readonly number[], tileStepSize: number): number[][] {
  if (!(tileStepSize > 0 && tileStepSize <= 1)) throw new InputError(`tile step size ${tileStepSize}: expected a number in (0, 1]`);
  if (imageSize.length !== tileSize.length) throw new InputError(`image size [${imageSize}] and tile size [${tileSize}]: expected as many axes`);
  return tileSize.map((tile, a) => {
    const image = imageSize[a];
    if (image < tile) throw new InputError(`image size [${imageSize}]: axis ${a} is smaller than the tile [${tileSize}] (pad it first)`);
    const target = tile * tileStepSize;
    const count = Math.ceil((image - tile) / target) + 1;
    const maxStep = image - tile;
    // one step: its start is 0 whatever the size (nnU-Net's 99999999999 times 0)
    const actual = count > 1 ? maxStep / (count - 1) : 0;
    return Array.from({ length: count }, (_, i) => roundHalfEven(actual * i));
  });
}

/** pad_nd_image(image, new_shape) on the last axes: padded size max(new, old), the content centred, the odd
 *  voxel after it. `below` is where the image starts inside the padded volume. */
export interface Padding {
  shape: number[];
  below: number[];
  above: number[];
}

export function padToAtLeast(shape: readonly number[], minShape: readonly number[]): Padding {
  const lead = shape.length - minShape.length;
  if (lead < 0) throw new InputError(`shape [${shape}]: fewer axes than the size [${minShape}] to pad it to`);
  const padded = shape.map((s, a) => (a < lead ? s : Math.max(s, minShape[a - lead])));
  const below = padded.map((p, a) => Math.floor((p - shape[a]) / 2));
  const above = padded.map((p, a) => p - shape[a] - below[a]);
  return { shape: padded, below, above };
}
