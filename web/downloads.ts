// The full-size files a result offers, named after the image as `unet segment` names them: the mask
// (NAME_mask.png, 0 / 255; NAME_mask_c<k>.png for a model with several masks) or, for a multi-class model,
// the label map (NAME_labels.png, indexed colour: the values are the classes, the palette their colours);
// the overlay (NAME_overlay.png); the probabilities (NAME_probs.png, 16-bit; NAME_probs_c<k>.png per class).
import { classColors } from '../src/io/classes.js';
import { encodePalettePng } from '../src/io/png.js';
import { type RawImage, type SegmentResult, encodePng, probabilitiesPng, renderOverlay } from '../src/index.js';
import type { DownloadArgs } from './protocol.js';
import { atThreshold } from './segmentation.js';

/** A full-size result, as the worker keeps it. */
export interface Stored {
  name: string;
  pixels: RawImage;
  result: SegmentResult;
}

/** The file name without its folder and extension: scans/scan.png -> scan. */
export function stemOf(name: string): string {
  const base = name.split('/').pop()!;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

export function downloadFile(r: Stored, args: DownloadArgs): { name: string; bytes: Uint8Array } {
  const stem = stemOf(r.name);
  const seg = atThreshold(r.result, args.threshold);
  const { width, height, classes } = seg;
  const c = Math.min(Math.max(0, args.channel), classes - 1);
  const perChannel = classes > 1 ? `_c${c}` : '';
  if (args.kind === 'overlay') return { name: `${stem}_overlay.png`, bytes: encodePng(renderOverlay(r.pixels, seg, { opacity: args.opacity })) };
  if (args.kind === 'probs') return { name: `${stem}_probs${perChannel}.png`, bytes: probabilitiesPng(seg, c) };
  if (seg.kind === 'classes') {
    return {
      name: `${stem}_labels.png`,
      bytes: encodePalettePng(
        width,
        height,
        seg.mask,
        classColors(classes).map((k) => k.rgb),
      ),
    };
  }
  const mask = seg.masks![c].map((v) => v * 255);
  return { name: `${stem}_mask${perChannel}.png`, bytes: encodePng({ width, height, channels: 1, data: mask }) };
}
