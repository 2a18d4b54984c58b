// Tuning constants of the kernel generators, chosen per adapter. Software rasterizers (llvmpipe,
// SwiftShader) run 8 lanes per SIMD vector and pay for every per-lane load, so there the conv shares its
// weights across a subgroup (shared/LAVAPIPE.md; bench/conv.ts measures the choices). Discrete GPUs
// want other shapes: the speed work measures them per layer.

export interface KernelTile {
  tilePixels: number;
  tileC4: number;
  workgroupSize: number;
}

export interface Tuning {
  conv2d: KernelTile & { weights: 'load' | 'subgroup'; subgroupSize?: number };
  convTranspose2x2: KernelTile & { weights: 'load' | 'subgroup'; subgroupSize?: number };
  /** workgroup size of the elementwise kernels (pool, layout, batchNorm, activations, concat) */
  elementwiseWorkgroupSize: number;
}

/** Works on every adapter (no optional feature). */
export const DEFAULT_TUNING: Tuning = {
  conv2d: { tilePixels: 4, tileC4: 2, workgroupSize: 64, weights: 'load' },
  convTranspose2x2: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'load' },
  elementwiseWorkgroupSize: 64,
};

/**
 * Picks the tuning for a device. The subgroup-broadcast conv needs the `subgroups` feature on the device
 * and one fixed subgroup size (the generated code names lanes by constant index).
 * Measured on llvmpipe: conv2d (bench/conv.ts, s1 = 128^2 64->64) 'load' 4x2 4.0 GFLOP/s, 'subgroup' 2x4
 * 12.2; conv_transpose2d in the 256^2 U-Net 2.1 GFLOP/s ('load' 2x2) -> 7-12 ('subgroup' 2x2).
 */
export function tuningFor(device: GPUDevice, adapter?: GPUAdapter): Tuning {
  const info = adapter?.info as (GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number }) | undefined;
  const size = info?.subgroupMinSize;
  if (device.features.has('subgroups') && size && size === info?.subgroupMaxSize && size >= 4 && size <= 64) {
    return {
      ...DEFAULT_TUNING,
      conv2d: { tilePixels: 2, tileC4: 4, workgroupSize: 64, weights: 'subgroup', subgroupSize: size },
      convTranspose2x2: { tilePixels: 2, tileC4: 2, workgroupSize: 64, weights: 'subgroup', subgroupSize: size },
    };
  }
  return DEFAULT_TUNING;
}
