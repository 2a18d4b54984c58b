// The kernel generators' tuning types: a conv kernel's tile and algorithm, and the per-adapter Tuning that
// holds one per tuned kernel. Ops read them to build their steps; src/compiler/tuning.ts picks them per
// adapter and `unet tune` (src/compiler/tune.ts) measures them.
export interface KernelTile {
  tilePixels: number;
  tileC4: number;
  workgroupSize: number;
}

/** A conv kernel's configuration: its tile, how weights reach the lanes (see Conv2dSpec.weights), and the
 *  algorithm: 'direct' (default); 'winograd2' / 'winograd4' for Winograd F(2x2,3x3) / F(4x4,3x3)
 *  (src/kernels/winograd.ts), where the tile is its GEMM's; 'tiled' for the workgroup-tiled GEMM
 *  (src/kernels/conv2dTiled.ts: tilePixels = pixels per thread, tileC4 = output vec4s per workgroup,
 *  workgroupSize unused). Layers an algorithm does not apply to run direct: src/ops/convVariant.ts decides,
 *  once per conv node, what each layer runs as. */
export type ConvTile = KernelTile & { weights: 'load' | 'subgroup'; subgroupSize?: number; algo?: ConvAlgo };

export type ConvAlgo = 'direct' | 'winograd2' | 'winograd4' | 'tiled';

/** A tile for reports: 'winograd4 subgroup/8 2px x 4c4 wg64' (the algorithm named unless direct). */
export const describeTile = (t: ConvTile) =>
  `${t.algo && t.algo !== 'direct' ? `${t.algo} ` : ''}${t.weights}${t.subgroupSize ? `/${t.subgroupSize}` : ''} ${t.tilePixels}px x ${t.tileC4}c4 wg${t.workgroupSize}`;

export type TunedKernel = 'conv2d' | 'convTranspose2x2' | 'conv3d';

export interface Tuning {
  conv2d: ConvTile;
  convTranspose2x2: ConvTile;
  /** the direct conv3d (src/kernels/conv3d.ts); its `algo` is ignored: it has only the direct kernel */
  conv3d: ConvTile;
  /** workgroup size of the elementwise kernels (pool, layout, batchNorm, activations, concat) */
  elementwiseWorkgroupSize: number;
  /** per-layer choices, by layerKey(); layers not listed use the kernel's entry above */
  layers?: Record<string, ConvTile>;
}

/** Works on every adapter (no optional feature). */
export const DEFAULT_TUNING: Tuning = {
  conv2d: { tilePixels: 4, tileC4: 2, workgroupSize: 64, weights: 'load' },
  convTranspose2x2: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'load' },
  conv3d: { tilePixels: 4, tileC4: 2, workgroupSize: 64, weights: 'load' },
  elementwiseWorkgroupSize: 64,
};
