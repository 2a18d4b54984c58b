// What the demo page must show: the Node engine (Dawn) segmenting the same pixels with the same options
// (model.segment, tile 'auto' within the page's GPU budget), run once per model for all the images a test needs.
import { type RgbaImage, type SegmentResult, getDevice, loadModel, releaseGpu } from '../../src/node.js';
import { GPU_BUDGET_BYTES } from '../../web/protocol.js';

/** The model at `path` (a file or an smp folder) on each image, as the page runs it. */
export async function nodeReference(path: string, images: RgbaImage[]): Promise<SegmentResult[]> {
  const device = await getDevice();
  try {
    const model = await loadModel(device, path);
    const out: SegmentResult[] = [];
    for (const img of images) out.push(await model.segment({ ...img, channels: 4 }, { tile: { memoryBudgetBytes: GPU_BUDGET_BYTES } }));
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
