// Tuning constants of the kernel generators, chosen per adapter. Software rasterizers (llvmpipe,
// SwiftShader) run 8 lanes per SIMD vector and pay for every per-lane load; discrete GPUs want more
// invocations in flight. These defaults are a starting point: the speed work measures per layer.

export interface KernelTile {
  tilePixels: number;
  tileC4: number;
  workgroupSize: number;
}

export interface Tuning {
  conv2d: KernelTile;
  convTranspose2x2: KernelTile;
  /** workgroup size of the elementwise kernels (pool, layout, batchNorm, activations, concat) */
  elementwiseWorkgroupSize: number;
}

export const DEFAULT_TUNING: Tuning = {
  conv2d: { tilePixels: 4, tileC4: 2, workgroupSize: 64 },
  convTranspose2x2: { tilePixels: 2, tileC4: 2, workgroupSize: 64 },
  elementwiseWorkgroupSize: 64,
};

export function tuningFor(adapterDescription: string): Tuning {
  void adapterDescription;
  return DEFAULT_TUNING;
}
