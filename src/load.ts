// Loading a model: read the source (bytes, a file, an smp save_pretrained folder, or weights + config),
// let the architecture plug-ins (src/arch) recognise it and build its graph, optimize the graph, pack
// and upload the weights, and hand everything to the runtime (src/model.ts).
import { buildModel } from './arch/index.js';
import { OUTPUT_ACTIVATIONS, type ModelConfig, type OutputActivation } from './arch/types.js';
import { platform } from './gpu/platform.js';
import { adapterOf } from './gpu/device.js';
import { type Graph, checkGraph } from './graph/ir.js';
import { uploadParams } from './graph/params.js';
import { optimize } from './graph/passes/index.js';
import { cachedTuning } from './graph/tune.js';
import { type Tuning, fixedSubgroupSize, tuningFor } from './graph/tuning.js';
import { type PadMode, checkPadMode } from './kernels/layout.js';
import { Model, type ModelInfo } from './model.js';
import { countGraphParameters, withoutF16 } from './ops/index.js';
import { parseSafetensors } from './weights/safetensors.js';
import { type Limits, resolveLimits } from './limits.js';
import { InputError, UnetError, UnsupportedError, WeightsError, checkOptionNames, throwIfAborted } from './errors.js';
import { type DownloadProgress, fetchBytes, isUrl } from './io/fetch.js';

/**
 * Where a model comes from: a safetensors file's bytes; a URL (a URL object, or a string starting with
 * http: or https:), fetched, a URL ending in / standing for an smp folder (its config.json and
 * model.safetensors); a path (Node): a .safetensors file, or a folder as smp's save_pretrained writes it
 * (config.json + model.safetensors); or, anywhere, the weights' bytes with an optional config (smp's
 * config.json, parsed or as text).
 */
export type ModelSource = Uint8Array | ArrayBuffer | string | URL | { weights: Uint8Array | ArrayBuffer; config?: ModelConfig | string; name?: string };
/** @deprecated the name of ModelSource before models could come with a config */
export type WeightsSource = ModelSource;

export interface LoadOptions {
  /** override the kernel tuning picked for the adapter */
  tuning?: Tuning;
  /** how inputs whose H or W is not a multiple of info.sizeMultiple are padded (default 'reflect') */
  pad?: PadMode;
  /** 'f16' stores weights and activations as f16 (half the memory and bandwidth; sums stay f32);
   *  needs the adapter's shader-f16 feature. Default 'f32'. */
  precision?: 'f32' | 'f16';
  /** the output activation, overriding the config's (a bare smp state_dict defaults to 'identity', as smp) */
  activation?: OutputActivation;
  /** bounds on what a file may make the loader read (maxWeightsBytes; see src/limits.ts) */
  limits?: Partial<Limits>;
  /** aborting rejects the load with an AbortError (and stops a download) */
  signal?: AbortSignal;
  /** the weights' bytes read so far: while a URL downloads (total: its Content-Length, if any), and
   *  once for bytes and files */
  onProgress?: (p: DownloadProgress) => void;
}

const LOAD_OPTIONS: readonly (keyof LoadOptions)[] = ['tuning', 'pad', 'precision', 'activation', 'limits', 'signal', 'onProgress'];

/** Config files are small: a bigger one is not smp's. */
const MAX_CONFIG_BYTES = 1 << 20;

function parseConfig(text: string, source: string): ModelConfig {
  if (text.length > MAX_CONFIG_BYTES) throw new WeightsError(`${source}: ${text.length} bytes is too large for a model config`);
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new WeightsError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new WeightsError(`${source}: expected a JSON object of model settings`);
  return c as ModelConfig;
}

/** The weights' bytes, the config if any, and a name for messages. */
export async function readModelSource(
  src: ModelSource,
  limits?: Partial<Limits>,
  options: Pick<LoadOptions, 'signal' | 'onProgress'> = {},
): Promise<{ bytes: Uint8Array; config?: ModelConfig; source: string }> {
  const resolved = resolveLimits(limits);
  const maxBytes = resolved.maxWeightsBytes;
  const bytesOf = (b: Uint8Array | ArrayBuffer) => (b instanceof Uint8Array ? b : new Uint8Array(b));
  if (isUrl(src, platform().readFile !== undefined)) {
    const url = String(src as string | URL);
    const get = (u: string, onProgress?: LoadOptions['onProgress']) => fetchBytes(u, { limits: resolved, limit: 'maxWeightsBytes', signal: options.signal, onProgress });
    if (!url.endsWith('/')) return { bytes: await get(url, options.onProgress), source: url };
    const config = parseConfig(new TextDecoder().decode(await get(`${url}config.json`)), `${url}config.json`);
    return { bytes: await get(`${url}model.safetensors`, options.onProgress), config, source: `${url}model.safetensors` };
  }
  if (typeof src === 'string') {
    const p = platform();
    const read = async (path: string) => {
      try {
        return await p.readFile!(path, maxBytes, 'maxWeightsBytes');
      } catch (e) {
        if (e instanceof UnetError) throw e;
        const code = (e as NodeJS.ErrnoException).code;
        throw new WeightsError(code ? `${path}: cannot read (${code})` : (e as Error).message, { cause: e });
      }
    };
    if (await p.isDirectory?.(src)) {
      const dir = src.replace(/\/+$/, '');
      const config = parseConfig(new TextDecoder().decode(await read(`${dir}/config.json`)), `${dir}/config.json`);
      return { bytes: await read(`${dir}/model.safetensors`), config, source: `${dir}/model.safetensors` };
    }
    return { bytes: await read(src), source: src };
  }
  if (src instanceof Uint8Array || src instanceof ArrayBuffer) return { bytes: bytesOf(src), source: '<bytes>' };
  if (typeof src !== 'object' || src === null || !('weights' in src)) {
    throw new InputError('model source: expected safetensors bytes, a URL, a path, or { weights, config? }');
  }
  const source = src.name ?? '<bytes>';
  const config = typeof src.config === 'string' ? parseConfig(src.config, `${source} config`) : src.config;
  return { bytes: bytesOf(src.weights), config, source };
}

/** Loads a model: see ModelSource for what it takes. */
export async function loadModel(device: GPUDevice, src: ModelSource, options: LoadOptions = {}): Promise<Model> {
  checkOptionNames(options, LOAD_OPTIONS, 'loadModel');
  throwIfAborted(options.signal, 'loading the model');
  const { bytes, config, source } = await readModelSource(src, options.limits, options);
  if (!isUrl(src, platform().readFile !== undefined)) options.onProgress?.({ loaded: bytes.length, total: bytes.length });
  throwIfAborted(options.signal, 'loading the model');
  const st = parseSafetensors(bytes, source);
  if (options.activation !== undefined && !OUTPUT_ACTIVATIONS.includes(options.activation)) {
    throw new InputError(`activation must be one of ${OUTPUT_ACTIVATIONS.join(', ')}, found ${JSON.stringify(options.activation)}`);
  }
  const built = buildModel(st, config, { activation: options.activation });
  const info0 = { ...built.info, parameters: countGraphParameters(built.graph) };
  let tuning = options.tuning;
  let tuningSource: ModelInfo['tuning'] = tuning ? 'given' : 'default';
  if (!tuning) {
    const cached = await cachedTuning(adapterOf(device), architectureKey(info0, options.precision));
    if (cached && usable(device, cached)) {
      tuning = cached;
      tuningSource = 'measured';
    }
  }
  throwIfAborted(options.signal, 'loading the model');
  return modelFromGraph(device, built.graph, info0, {
    ...options,
    tuning,
    tuningSource,
    source,
    metadata: st.metadata,
    warnings: built.warning ? [built.warning] : [],
  });
}

/** What tuned layer keys depend on: the architecture and its sizes, not the weights; and the precision,
 *  since f16 storage changes what is fast (f16 models are tuned in f16). */
export function architectureKey(i: Pick<ModelInfo, 'architecture' | 'encoder' | 'inChannels' | 'classes' | 'depth' | 'decoderChannels'>, precision: 'f32' | 'f16' = 'f32'): string {
  return `${i.architecture} ${i.encoder} in${i.inChannels} out${i.classes} d${i.depth} dec${i.decoderChannels.join(',')}${precision === 'f16' ? ' f16' : ''}`;
}

/** A cached tuning is only as good as the device it was measured on: subgroup kernels need the same size. */
function usable(device: GPUDevice, t: Tuning): boolean {
  const size = fixedSubgroupSize(device, adapterOf(device));
  return [t.conv2d, t.convTranspose2x2, ...Object.values(t.layers ?? {})].every((k) => k.weights !== 'subgroup' || k.subgroupSize === size);
}

/** A model from an unoptimized graph and its architecture's info (parameters counted on that graph). */
export function modelFromGraph(
  device: GPUDevice,
  graph: Graph,
  archInfo: Omit<ModelInfo, 'outChannels' | 'weightBytes' | 'source' | 'metadata' | 'tuning' | 'precision' | 'warnings'>,
  options: LoadOptions & { source?: string; metadata?: Record<string, string>; tuningSource?: ModelInfo['tuning']; warnings?: string[] } = {},
): Model {
  const tuning = options.tuning ?? tuningFor(device, adapterOf(device));
  const precision = options.precision ?? 'f32';
  if (precision !== 'f32' && precision !== 'f16') throw new InputError(`precision must be 'f32' or 'f16', found ${JSON.stringify(precision)}`);
  if (options.pad !== undefined) checkPadMode(options.pad, 'pad');
  if (precision === 'f16' && !device.features.has('shader-f16')) {
    throw new UnsupportedError("precision 'f16' needs the adapter's shader-f16 feature, which this device does not have; use 'f32'");
  }
  checkGraph(graph);
  const optimized = optimize(graph);
  if (precision === 'f16') {
    const missing = withoutF16(optimized);
    if (missing.length) throw new UnsupportedError(`precision 'f16': ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} have no f16 kernel; use 'f32'`);
  }
  let store: ReturnType<typeof uploadParams>;
  try {
    store = uploadParams(device, optimized, tuning, precision === 'f16');
  } catch (e) {
    // e.g. a packed tensor larger than one binding: refused here, at load, naming the file
    throw new UnsupportedError(`${options.source ?? '<graph>'}: ${(e as Error).message}`, { cause: e });
  }
  const info: ModelInfo = {
    ...archInfo,
    outChannels: archInfo.classes,
    weightBytes: store.sizeBytes,
    source: options.source ?? '<graph>',
    metadata: options.metadata ?? {},
    tuning: options.tuningSource ?? (options.tuning ? 'given' : 'default'),
    precision,
    warnings: options.warnings ?? [],
  };
  return new Model(device, info, optimized, store, tuning, options.pad);
}
