// Tuning constants of the kernel generators, chosen per adapter. Software rasterizers (llvmpipe,
// SwiftShader) run 8 lanes per SIMD vector and pay for every per-lane load, so there the conv shares its
// weights across a subgroup (shared/LAVAPIPE.md; bench/conv.ts measures the choices). Discrete GPUs
// want other shapes. `unet tune` (src/compiler/tune.ts) measures the candidates below on the model's real
// layers and stores per-layer winners (Tuning.layers), which a later load picks up from the cache.
import { isSoftwareAdapter } from '../gpu/device.js';

import { type ConvTile, DEFAULT_TUNING, type TunedKernel, type Tuning } from '../kernels/tuning.js';

export { type ConvAlgo, type ConvTile, DEFAULT_TUNING, type KernelTile, type TunedKernel, type Tuning, describeTile } from '../kernels/tuning.js';

/** The fixed subgroup size the subgroup variants need, or undefined. */
export function fixedSubgroupSize(device: GPUDevice, adapter?: GPUAdapter): number | undefined {
  const info = adapter?.info as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
  const size = info?.subgroupMinSize;
  return device.features.has('subgroups') && size && size === info?.subgroupMaxSize && size >= 4 && size <= 64 ? size : undefined;
}

/**
 * Default tuning for a device, before any measurement.
 * Software adapters with a fixed subgroup size: the subgroup-broadcast kernels (they need the `subgroups`
 * feature and one fixed subgroup size: the generated code names lanes by constant index) and Winograd
 * F(4x4,3x3) for the 3x3 convs, whose GEMMs multiply 4x less. Measured on llvmpipe: conv2d (bench/conv.ts,
 * s1 = 128^2 64->64) 'load' 4x2 4.0 GFLOP/s, 'subgroup' 2x4 12.2; conv_transpose2d in the 256^2 U-Net 2.1
 * GFLOP/s ('load' 2x2) -> 7-12 ('subgroup' 2x2); the classic U-Net 3->1 at 256^2, per-layer GPU time summed,
 * direct 'subgroup' 2x4 1119 ms -> F(4x4,3x3) 650 ms.
 * Hardware adapters: the 'load' variant, direct (subgroup broadcast was slower on an NVIDIA H200: 10.0 vs
 * 8.1 ms at 4x128^2); `unet tune` measures the rest, Winograd included.
 */
export function tuningFor(device: GPUDevice, adapter?: GPUAdapter): Tuning {
  const size = fixedSubgroupSize(device, adapter);
  if (!isSoftwareAdapter(device)) return DEFAULT_TUNING;
  if (!size) return { ...DEFAULT_TUNING, conv2d: { ...DEFAULT_TUNING.conv2d, algo: 'winograd4' } };
  return {
    ...DEFAULT_TUNING,
    conv2d: { tilePixels: 2, tileC4: 4, workgroupSize: 64, weights: 'subgroup', subgroupSize: size, algo: 'winograd4' },
    convTranspose2x2: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'subgroup', subgroupSize: size },
    conv3d: { tilePixels: 2, tileC4: 4, workgroupSize: 64, weights: 'subgroup', subgroupSize: size },
  };
}

/** What `unet tune` tries per kernel: every tile here is valid for every layer (tests run them all).
 *  conv2d: direct tiles, with workgroups of 32 and 128 beside 64 for two of them, and the Winograd
 *  variants with the GEMM tiles that did well on their own; each with the subgroup variant where the
 *  adapter has a fixed subgroup size. On hardware adapters (`software` false) also the tiled GEMM at
 *  128 x 128, 128 x 64 and 64 x 64 (its shared-memory tiles are what llvmpipe is slowest at).
 *  conv3d: conv2d's direct tiles (its only algorithm), each with the subgroup variant where there is one. */
export function candidates(kernel: TunedKernel, subgroupSize?: number, software = false): ConvTile[] {
  const variants: Pick<ConvTile, 'weights' | 'subgroupSize'>[] = [{ weights: 'load' }];
  if (subgroupSize) variants.push({ weights: 'subgroup', subgroupSize });
  if (kernel === 'convTranspose2x2') {
    const tiles: [number, number][] = [
      [1, 2],
      [1, 4],
      [2, 1],
      [2, 2],
      [4, 1],
    ];
    return variants.flatMap((v) => tiles.map(([tilePixels, tileC4]) => ({ tilePixels, tileC4, workgroupSize: 64, ...v })));
  }
  const direct: [number, number, number][] = [
    [1, 4, 64],
    [2, 2, 64],
    [2, 4, 64],
    [4, 1, 64],
    [4, 2, 64],
    [4, 4, 64],
    [8, 1, 64],
    [8, 2, 64],
    [2, 4, 32],
    [4, 2, 128],
  ];
  // a subgroup-broadcast workgroup holds whole subgroups
  const directTiles = (v: Pick<ConvTile, 'weights' | 'subgroupSize'>): ConvTile[] =>
    direct
      .filter(([, , wg]) => wg >= (v.subgroupSize ?? 0))
      .map(([tilePixels, tileC4, workgroupSize]): ConvTile => ({ tilePixels, tileC4, workgroupSize, ...v }));
  if (kernel === 'conv3d') return variants.flatMap(directTiles);
  const gemm: [number, number][] = [
    [2, 2],
    [2, 4],
    [4, 2],
    [4, 4],
  ];
  const tiled: ConvTile[] = software
    ? []
    : [
        [8, 32],
        [8, 16],
        [4, 16],
      ].map(([tilePixels, tileC4]) => ({ tilePixels, tileC4, workgroupSize: 64, weights: 'load', algo: 'tiled' }));
  return tiled.concat(
    ...variants.map((v) => [
      ...directTiles(v),
      ...(['winograd2', 'winograd4'] as const).flatMap((algo) =>
        gemm.map(([tilePixels, tileC4]): ConvTile => ({ tilePixels, tileC4, workgroupSize: 64, ...v, algo })),
      ),
    ]),
  );
}
