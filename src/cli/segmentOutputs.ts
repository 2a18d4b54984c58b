// `unet segment`'s outputs as bytes: an image's or a volume's segmentation, as the library gives it
// (SegmentResult, VolumeSegmentResult), encoded into the files outputSet names (PNG / NIfTI), then
// written as one set (src/cli/outputs.ts).
import { join } from 'node:path';
import { classColors, classOverlay, legend, type LegendEntry } from '../io/classes.js';
import type { Image } from '../io/image.js';
import { writeNifti, type Volume } from '../io/nifti.js';
import { encodePalettePng, encodePng } from '../io/png.js';
import { overlay, probs16 } from '../io/render.js';
import { printable } from '../limits.js';
import { readOutput, type SegmentResult } from '../segment.js';
import { CliError } from './errors.js';
import { nonFiniteMessage, writeOutputSet, type NonFinite } from './outputs.js';
import type { Settings } from './segmentArgs.js';
import { outputSet, type Output } from './segmentInputs.js';

/** What the files are made of: an image's segmentation or a volume's (masks and probabilities over its voxels). */
type Segmentation = Pick<SegmentResult, 'classes' | 'kind' | 'probabilities' | 'mask' | 'masks'>;

/** The files of one input, each encoded by `encode`, keyed by name in the order outputSet gives. */
function encodeSet(r: Segmentation, name: string, ext: string, probs: boolean, overlay: boolean, encode: (o: Output) => Uint8Array): Map<string, Uint8Array> {
  const set = outputSet(name, ext, r.classes, { probs, multiClass: r.kind === 'classes' }, overlay);
  return new Map(set.map((o) => [o.file, encode(o)]));
}

/** An image's files: PNGs of the label map (indexed colour) or the masks (0 / 255), the probabilities
 *  (16-bit) and the overlay on the image. */
export function imageFiles(img: Image, r: Segmentation, name: string, probs: boolean): Map<string, Uint8Array> {
  const { width, height } = img;
  const masks = r.masks ?? [r.mask];
  const png = (channels: 1 | 3, data: Uint8Array | Uint16Array) => encodePng({ width, height, channels, data });
  return encodeSet(r, name, '.png', probs, true, (o) => {
    if (o.holds === 'probs') return png(1, probs16(r.probabilities, o.c, width * height));
    if (o.holds === 'mask')
      return png(
        1,
        masks[o.c].map((v) => 255 * v),
      );
    const colors = classColors(r.classes);
    if (o.holds === 'labels')
      return encodePalettePng(
        width,
        height,
        r.mask,
        colors.map((c) => c.rgb),
      );
    return png(3, r.kind === 'classes' ? classOverlay(img, r.mask, colors) : overlay(img, masks));
  });
}

/** A volume's files, each with the input's header: uint8 labels or 0 / 1 masks, float32 probabilities. */
export function volumeFiles(vol: Volume, r: Segmentation, name: string, gz: boolean, probs: boolean): Map<string, Uint8Array> {
  const voxels = vol.data.length;
  const masks = r.masks ?? [r.mask];
  return encodeSet(r, name, gz ? '.nii.gz' : '.nii', probs, false, (o) => {
    if (o.holds === 'probs') return writeNifti(vol, r.probabilities.subarray(o.c * voxels, (o.c + 1) * voxels), gz);
    return writeNifti(vol, o.holds === 'mask' ? masks[o.c] : r.mask, gz);
  });
}

/** A multi-class output's files (the label map, the overlay, with --probs each class's probability) and
 *  its legend, from the model's raw output [1, C, H, W] read under `activation`. */
export function classImageFiles(
  img: Image,
  y: Float32Array,
  C: number,
  name: string,
  s: Pick<Settings, 'probs' | 'activation'>,
): { files: Map<string, Uint8Array>; classes: LegendEntry[] } {
  const r = readOutput(y, img.width, img.height, { classes: C, activation: s.activation });
  return { files: imageFiles(img, r, name, s.probs), classes: legend(r.mask, C) };
}

/** Writes an input's outputs as one set; a non-finite output is an error with --strict (nothing written). */
export async function writeSet(files: Map<string, Uint8Array>, nonFinite: NonFinite | undefined, s: Settings, path: string): Promise<void> {
  if (nonFinite && s.strict) throw new CliError(`${nonFiniteMessage(printable(path), nonFinite, s.nanWeights)} (--strict: no outputs written)`);
  const paths = new Map([...files].map(([f, data]) => [join(s.outDir, f), data]));
  try {
    await writeOutputSet(paths, s.overwrite);
  } catch (e) {
    if (e instanceof CliError) throw new CliError(`${printable(path)}: ${e.message}`);
    throw e;
  }
}
