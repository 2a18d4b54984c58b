// The plain NCHW tensor the CPU references and the public API use.
export interface Tensor {
  data: Float32Array;
  shape: [number, number, number, number];
}

export const numElements = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function zeros(shape: [number, number, number, number]): Tensor {
  return { data: new Float32Array(numElements(shape)), shape };
}
