// ONNX Runtime for Node (onnxruntime-node, a devDependency), loaded at run time so that everything else
// works without it: the part of its API bench/peers.ts and the tests use.

export interface OrtTensor {
  data: unknown;
  dims: readonly number[];
}

export interface OrtSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

export interface Ort {
  env: { versions: Record<string, string> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  InferenceSession: {
    create(
      path: string,
      options: { executionProviders: readonly string[]; intraOpNumThreads?: number; logSeverityLevel?: 0 | 1 | 2 | 3 | 4; extra?: Record<string, unknown> },
    ): Promise<OrtSession>;
  };
}

/** onnxruntime-node, or why it cannot be loaded. */
export async function loadOrt(): Promise<Ort | string> {
  const name = 'onnxruntime-node'; // not a literal import: type-checking must not need the package
  return import(name).then(
    (m: { default?: Ort } & Ort) => m.default ?? m,
    (e: Error) => `onnxruntime-node cannot be loaded (npm install; ${e.message.split('\n')[0]})`,
  );
}

/** A session on execution provider `ep` ('webgpu', 'cpu'); throws, naming the EP, when it cannot start. */
export async function ortSession(ort: Ort, onnxPath: string, ep: string, threads?: number): Promise<OrtSession> {
  // ORT's thread pools spin between runs by default, which would take the cores from whichever engine
  // runs next (llvmpipe's threads, PyTorch's): told not to
  const noSpin = { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } };
  try {
    return await ort.InferenceSession.create(onnxPath, {
      executionProviders: [ep],
      ...(threads ? { intraOpNumThreads: threads } : {}),
      logSeverityLevel: 3,
      extra: { session: noSpin },
    });
  } catch (e) {
    throw new Error(`ORT ${ep} EP: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** One forward: NCHW float32 in, the `output` tensor's data out. */
export async function ortRun(
  ort: Ort,
  session: OrtSession,
  x: { data: Float32Array; shape: readonly number[] },
): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const y = (await session.run({ input: new ort.Tensor('float32', x.data, x.shape) })).output;
  return { data: y.data as Float32Array, dims: y.dims };
}
