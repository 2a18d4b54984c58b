// What the demo page must show, from the Node engine (Dawn) on the same pixels: the page's own
// preprocessing and output reading, run once per model for all the images a test needs.
import { getDevice, loadModel, releaseGpu } from '../../src/node.js';
import { argmaxLabels, classProbabilities, isMultiClass, maskProbabilities } from '../../src/io/classes.js';
import { imageToTensor, type RgbaImage } from '../../web/preprocess.js';
import { GPU_BUDGET_BYTES } from '../../web/protocol.js';

export interface Reference {
  width: number;
  height: number;
  /** probabilities, [classes, H, W] */
  probs: Float32Array;
  classes: number;
  /** multi-class models: the class of each pixel */
  labels?: Uint8Array;
}

/** The model at `path` (a file or an smp folder) on each image, as the page runs it (tile 'auto'). */
export async function nodeReference(path: string, images: RgbaImage[]): Promise<Reference[]> {
  const device = await getDevice();
  try {
    const model = await loadModel(device, path);
    const { inChannels, classes, activation, preprocessing } = model.info;
    const out: Reference[] = [];
    for (const img of images) {
      const y = await model.run(imageToTensor(img, { inChannels, normalization: preprocessing }), { tile: { memoryBudgetBytes: GPU_BUDGET_BYTES } });
      const n = img.width * img.height;
      const multi = isMultiClass(model.info);
      const probs = multi ? classProbabilities(y.data, classes, n, activation) : activation === 'sigmoid' ? y.data : maskProbabilities(y.data, activation);
      out.push({ width: img.width, height: img.height, probs, classes, ...(multi ? { labels: argmaxLabels(y.data, classes, n) } : {}) });
    }
    model.dispose();
    return out;
  } finally {
    device.destroy();
    releaseGpu();
  }
}

/** The largest |a - b| and where. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; at: number } {
  let max = 0;
  let at = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) [max, at] = [d, i];
  }
  return { max, at };
}
