// A segmentation at the page's threshold: model.segment thresholds a mask model's probabilities at 0.5;
// the threshold slider redraws the previews (web/cards.ts) and sets the downloads (web/downloads.ts) from
// the same probabilities, with the library's own rule (isForeground). Multi-class results have no
// threshold: each pixel is its argmax class.
import { isForeground } from '../src/io/classes.js';
import type { Segmentation } from '../src/io/render.js';

export function atThreshold(seg: Segmentation, threshold: number): Segmentation {
  if (seg.kind === 'classes') return seg;
  const n = seg.width * seg.height;
  const masks = Array.from({ length: seg.classes }, (_, c) => {
    const m = new Uint8Array(n);
    for (let i = 0; i < n; i++) m[i] = isForeground(seg.probabilities[c * n + i], threshold) ? 1 : 0;
    return m;
  });
  return { ...seg, mask: masks[0], masks };
}
