// Loading a model: read the source (bytes, a file, an smp save_pretrained folder, or weights + config),
// let the architecture plug-ins (src/arch) recognise it and build its graph, optimize the graph, pack
// and upload the weights, and hand everything to the runtime (src/model.ts).
import { buildModel } from './arch/index.js';
import { OUTPUT_ACTIVATIONS, type ModelConfig, type OutputActivation } from './arch/types.js';
import { platform } from './gpu/platform.js';
import { adapterOf } from './gpu/device.js';
import { type Graph, checkGraph } from './ir/graph.js';
import { uploadParams } from './compiler/params.js';
import { optimize } from './compiler/passes/index.js';
import { cachedTuning } from './compiler/tune.js';
import { type Tuning, fixedSubgroupSize, tuningFor } from './compiler/tuning.js';
import { type PadMode, checkPadMode } from './ir/types.js';
import { Model, type ModelInfo } from './model.js';
import { withoutF16 } from './ops/index.js';
import { asGiven } from './ops/convVariant.js';
import { parseSafetensors } from './weights/safetensors.js';
import { type Limits, LimitError, MAX_CONFIG_BYTES, quoted, resolveLimits, shownValue } from './limits.js';
import { InputError, UnetError, UnsupportedError, WeightsError, checkOptionNames, throwIfAborted } from './errors.js';
import { type DownloadProgress, fetchBytes, isUrl } from './io/fetch.js';
import { nnunetModelSource } from './nnunetSource.js';
import { isNnunetListing } from './arch/nnunet/folder.js';

/**
 * Where a model comes from: a safetensors file's bytes; a URL (a URL object, or a string starting with
 * http: or https:), fetched, a URL ending in / standing for an smp folder (its config.json and
 * model.safetensors); a path (Node): a .safetensors file, or a folder as smp's save_pretrained writes it
 * (config.json + model.safetensors); or, anywhere, the weights' bytes with an optional config (smp's
 * config.json, parsed or as text; configName names it in errors).
 */
export type ModelSource =
  | Uint8Array
  | ArrayBuffer
  | string
  | URL
  | { weights: Uint8Array | ArrayBuffer; config?: ModelConfig | string; name?: string; configName?: string };
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
  /** bounds on what a file may make the loader read (maxWeightsBytes; see src/limits.ts), and on how
   *  long a URL's server may stall (headersTimeoutMs, idleTimeoutMs: a TimeoutError, code 'TIMEOUT') */
  limits?: Partial<Limits>;
  /** aborting rejects the load with an AbortError (and stops a download) */
  signal?: AbortSignal;
  /** the weights' bytes read so far: while a URL downloads (total: its Content-Length, if any), and
   *  once for bytes and files */
  onProgress?: (p: DownloadProgress) => void;
  /** bound in bytes on the compiled plans the model keeps (one per input shape; least recently used freed
   *  first); default 4 x the adapter's maxStorageBufferBindingSize, at most maxBufferSize (see model.info.planCache) */
  planCacheBytes?: number;
  /** most bytes one storage binding may take; default (and at most) the adapter's maxStorageBufferBindingSize.
   *  Layers whose tensors pass it run in bands of rows, with the same result as one pass: a smaller value
   *  only makes more, smaller dispatches (tests use it to band small inputs) */
  maxBindingBytes?: number;
  /** an nnU-Net results folder or zip: which folds (default every fold_N present, else fold_all), which
   *  checkpoint file (default checkpoint_final.pth), and the configuration where a Dataset folder holds
   *  several trainer folders */
  nnunet?: { folds?: readonly (number | 'all')[]; checkpoint?: string; configuration?: string };
}

const LOAD_OPTIONS: readonly (keyof LoadOptions)[] = [
  'tuning',
  'pad',
  'precision',
  'activation',
  'limits',
  'signal',
  'onProgress',
  'planCacheBytes',
  'maxBindingBytes',
  'nnunet',
];

/** A config's text as a JSON object. A parse error names the file and the position, never the text: a
 *  path that is a link to another file must not print that file's first bytes. */
function parseConfig(text: string, source: string): ModelConfig {
  if (text.length > MAX_CONFIG_BYTES)
    throw new WeightsError(`${source}: ${text.length} characters is more than the ${MAX_CONFIG_BYTES} bytes a model config may have`);
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message)?.[1];
    throw new WeightsError(`${source}: not valid JSON${at !== undefined ? ` (at character ${at})` : ''}`);
  }
  return configObject(c, source);
}

/**
 * A config given as an object, made plain JSON data once (a copy), so that what smp's reader looks at
 * cannot change or throw under it: getters run here, once, and a cycle, a BigInt or nesting deeper than
 * the stack is one WeightsError naming the config. A config too large as JSON is refused like a file.
 */
function configObject(c: unknown, source: string): ModelConfig {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    throw new WeightsError(`${source}: expected a JSON object of model settings, found ${c === null ? 'null' : Array.isArray(c) ? 'an array' : typeof c}`);
  }
  let text: string;
  let notJson: string | undefined;
  try {
    // what JSON would drop or turn into null (a function, a symbol, NaN) is refused, not read as absent
    text = JSON.stringify(c, (key, v: unknown) => {
      if (typeof v === 'function' || typeof v === 'symbol' || (typeof v === 'number' && !Number.isFinite(v))) {
        notJson = `${quoted(key, 100)} is ${typeof v === 'number' ? v : `a ${typeof v}`}`;
        throw new WeightsError(notJson);
      }
      return v;
    });
  } catch (e) {
    const why =
      notJson ?? (e instanceof RangeError ? 'nested too deeply' : e instanceof TypeError ? 'not JSON data (a cycle or a BigInt)' : 'a property getter threw');
    throw new WeightsError(`${source}: cannot be read as JSON settings (${why})`, { cause: e });
  }
  if (text.length > MAX_CONFIG_BYTES)
    throw new WeightsError(`${source}: ${text.length} characters as JSON is more than the ${MAX_CONFIG_BYTES} bytes a model config may have`);
  return JSON.parse(text) as ModelConfig;
}

/** The weights' bytes, the config if any, and names for messages (`configSource`: the config's). */
export async function readModelSource(
  src: ModelSource,
  limits?: Partial<Limits>,
  options: Pick<LoadOptions, 'signal' | 'onProgress' | 'nnunet'> = {},
): Promise<{ bytes: Uint8Array; config?: ModelConfig; source: string; configSource?: string }> {
  const resolved = resolveLimits(limits);
  const maxBytes = resolved.maxWeightsBytes;
  const bytesOf = (b: Uint8Array | ArrayBuffer) => (b instanceof Uint8Array ? b : new Uint8Array(b));
  // a config over MAX_CONFIG_BYTES is not smp's: refused before its bytes are read (or downloaded), in
  // words about configs rather than limits.maxWeightsBytes
  const configTooLarge = (e: unknown, path: string): never => {
    if (e instanceof LimitError) throw new WeightsError(`${path}: larger than the ${MAX_CONFIG_BYTES} bytes a model config may have`, { cause: e });
    throw e;
  };
  if (isUrl(src, platform().readFile !== undefined)) {
    const url = String(src as string | URL);
    const get = (u: string, onProgress?: LoadOptions['onProgress'], l: Limits = resolved) =>
      fetchBytes(u, { limits: l, limit: 'maxWeightsBytes', signal: options.signal, onProgress });
    if (!url.endsWith('/')) return { bytes: await get(url, options.onProgress), source: url };
    const configSource = `${url}config.json`;
    const text = new TextDecoder().decode(
      await get(configSource, undefined, { ...resolved, maxWeightsBytes: MAX_CONFIG_BYTES }).catch((e) => configTooLarge(e, configSource)),
    );
    const config = parseConfig(text, configSource);
    return { bytes: await get(`${url}model.safetensors`, options.onProgress), config, source: `${url}model.safetensors`, configSource };
  }
  if (typeof src === 'string') {
    const p = platform();
    const read = async (path: string, max = maxBytes) => {
      try {
        return await p.readFile!(path, max, 'maxWeightsBytes');
      } catch (e) {
        if (e instanceof UnetError) throw e;
        const code = (e as NodeJS.ErrnoException).code;
        throw new WeightsError(code ? `${path}: cannot read (${code})` : (e as Error).message, { cause: e });
      }
    };
    // an nnU-Net results folder (isNnunetListing) or its exported zip
    const nnunet = async (path: string) => {
      const files = await p.listFiles!(path, resolved);
      if (/\.zip$/i.test(path) || isNnunetListing(files.paths)) {
        const m = await nnunetModelSource(files, { ...options.nnunet, limits: resolved });
        return { bytes: m.weights, config: m.config as unknown as ModelConfig, source: m.name, configSource: `${m.name} (plans.json, dataset.json)` };
      }
      return undefined;
    };
    const isDir = await p.isDirectory?.(src);
    if (p.listFiles && (isDir || /\.zip$/i.test(src))) {
      const m = await nnunet(src);
      if (m) return m;
    }
    if (isDir) {
      const dir = src.replace(/\/+$/, '');
      const configSource = `${dir}/config.json`;
      const config = parseConfig(
        new TextDecoder().decode(await read(configSource, MAX_CONFIG_BYTES).catch((e) => configTooLarge(e, configSource))),
        configSource,
      );
      return { bytes: await read(`${dir}/model.safetensors`), config, source: `${dir}/model.safetensors`, configSource };
    }
    return { bytes: await read(src), source: src };
  }
  if (src instanceof Uint8Array || src instanceof ArrayBuffer) return { bytes: bytesOf(src), source: '<bytes>' };
  if (typeof src !== 'object' || src === null || !('weights' in src)) {
    throw new InputError('model source: expected safetensors bytes, a URL, a path, or { weights, config? }');
  }
  if (!(src.weights instanceof Uint8Array || src.weights instanceof ArrayBuffer)) {
    throw new InputError(`model source: weights must be a Uint8Array or an ArrayBuffer, found ${src.weights === null ? 'null' : typeof src.weights}`);
  }
  if (src.name !== undefined && typeof src.name !== 'string') throw new InputError(`model source: name must be a string, found ${typeof src.name}`);
  if (src.configName !== undefined && typeof src.configName !== 'string')
    throw new InputError(`model source: configName must be a string, found ${typeof src.configName}`);
  const source = src.name ?? '<bytes>';
  // the config's own name (a file's path) for its errors, else the weights' name + ' config'
  const configSource = src.configName ?? `${source} config`;
  const config =
    src.config === undefined ? undefined : typeof src.config === 'string' ? parseConfig(src.config, configSource) : configObject(src.config, configSource);
  return { bytes: bytesOf(src.weights), config, source, configSource };
}

/** LoadOptions.nnunet, checked: folds are integers >= 0 or 'all', the names strings. */
function checkNnunetOptions(given: LoadOptions['nnunet']): NonNullable<LoadOptions['nnunet']> {
  if (given === undefined) return {};
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    throw new InputError(`nnunet: expected { folds?, checkpoint?, configuration? }, found ${shownValue(given)}`);
  const o = plainCopy(given, 'nnunet') as NonNullable<LoadOptions['nnunet']>;
  checkOptionNames(o, ['folds', 'checkpoint', 'configuration'], 'nnunet');
  if (
    o.folds !== undefined &&
    !(Array.isArray(o.folds) && o.folds.length > 0 && o.folds.every((f) => f === 'all' || (Number.isSafeInteger(f) && (f as number) >= 0)))
  )
    throw new InputError(`nnunet.folds must list fold numbers (0, 1, ...) or 'all', found ${shownValue(o.folds)}`);
  for (const k of ['checkpoint', 'configuration'] as const)
    if (o[k] !== undefined && (typeof o[k] !== 'string' || !/^[\w.+-]{1,200}$/.test(o[k] as string)))
      throw new InputError(`nnunet.${k} must be a file or configuration name, found ${shownValue(o[k])}`);
  return o;
}

/** Loads a model: see ModelSource for what it takes. */
export async function loadModel(device: GPUDevice, src: ModelSource, options: LoadOptions = {}): Promise<Model> {
  checkOptionNames(options, LOAD_OPTIONS, 'loadModel');
  try {
    options = { ...options }; // getters run once, here
  } catch (e) {
    throw new InputError(`loadModel: its options cannot be read (${e instanceof Error ? e.message.split('\n')[0] : typeof e})`, { cause: e });
  }
  // every option is checked before a byte is read
  throwIfAborted(options.signal, 'loading the model');
  if (options.activation !== undefined && !(typeof options.activation === 'string' && OUTPUT_ACTIVATIONS.includes(options.activation))) {
    throw new InputError(`activation must be one of ${OUTPUT_ACTIVATIONS.join(', ')}, found ${shownValue(options.activation)}`);
  }
  checkPrecision(options.precision);
  if (options.pad !== undefined && options.pad !== 'reflect' && options.pad !== 'zero')
    throw new InputError(`pad must be 'reflect' or 'zero', found ${shownValue(options.pad)}`);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    throw new InputError(`onProgress must be a function, found ${shownValue(options.onProgress)}`);
  options.nnunet = checkNnunetOptions(options.nnunet);
  let tuning = options.tuning === undefined ? undefined : checkTuning(options.tuning, device);
  const { bytes, config, source, configSource } = await readModelSource(src, options.limits, options);
  if (!isUrl(src, platform().readFile !== undefined)) options.onProgress?.({ loaded: bytes.length, total: bytes.length });
  throwIfAborted(options.signal, 'loading the model');
  const st = parseSafetensors(bytes, source);
  const built = buildModel(st, config, { activation: options.activation, configSource });
  const info0 = built.info;
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

function checkPrecision(precision: unknown): void {
  if (precision !== undefined && precision !== 'f32' && precision !== 'f16') {
    throw new InputError(`precision must be 'f32' or 'f16', found ${shownValue(precision)}`);
  }
}

/** What tuned layer keys depend on: the architecture and its sizes, not the weights; and the precision,
 *  since f16 storage changes what is fast (f16 models are tuned in f16). */
export function architectureKey(
  i: Pick<ModelInfo, 'architecture' | 'encoder' | 'inChannels' | 'classes' | 'depth' | 'decoderChannels'>,
  precision: 'f32' | 'f16' = 'f32',
): string {
  return `${i.architecture} ${i.encoder} in${i.inChannels} out${i.classes} d${i.depth} dec${i.decoderChannels.join(',')}${precision === 'f16' ? ' f16' : ''}`;
}

const CONV_ALGOS: readonly string[] = ['direct', 'winograd2', 'winograd4', 'tiled'];
/** Tile sides past any candidate of src/compiler/tuning.ts: bounds that keep the generated WGSL small. */
const MAX_TILE = 64;

/** Why `t` is not a Tuning the kernels can be generated from (undefined when it is one). Checked by value:
 *  LoadOptions.tuning comes from the caller and a cached one from a file. */
export function tuningProblem(t: unknown, maxWorkgroup: number): string | undefined {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const int = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max;
  const tile = (v: unknown, what: string): string | undefined => {
    if (!isObject(v)) return `${what} must be an object`;
    if (!int(v.tilePixels, MAX_TILE) || !int(v.tileC4, MAX_TILE)) return `${what}: tilePixels and tileC4 must be integers from 1 to ${MAX_TILE}`;
    if (!int(v.workgroupSize, maxWorkgroup)) return `${what}: workgroupSize must be an integer from 1 to ${maxWorkgroup}`;
    if (v.weights !== 'load' && v.weights !== 'subgroup') return `${what}: weights must be 'load' or 'subgroup'`;
    if (v.subgroupSize !== undefined && !int(v.subgroupSize, 128)) return `${what}: subgroupSize must be an integer from 1 to 128`;
    if (v.algo !== undefined && !(typeof v.algo === 'string' && CONV_ALGOS.includes(v.algo))) return `${what}: algo must be one of ${CONV_ALGOS.join(', ')}`;
    return undefined;
  };
  if (!isObject(t)) return 'must be an object';
  const problem = tile(t.conv2d, 'conv2d') ?? tile(t.convTranspose2x2, 'convTranspose2x2') ?? (t.conv3d === undefined ? undefined : tile(t.conv3d, 'conv3d'));
  if (problem) return problem;
  if (!int(t.elementwiseWorkgroupSize, maxWorkgroup)) return `elementwiseWorkgroupSize must be an integer from 1 to ${maxWorkgroup}`;
  if (t.layers !== undefined) {
    if (!isObject(t.layers)) return 'layers must be an object';
    for (const [key, v] of Object.entries(t.layers)) {
      const p = tile(v, `layers[${JSON.stringify(key).slice(0, 100)}]`);
      if (p) return p;
    }
  }
  return undefined;
}

/** An option's value as a copy of plain data: a getter runs once, here, and a cycle, a BigInt or nesting
 *  deeper than the stack is one InputError naming the option. */
function plainCopy(v: unknown, what: string): unknown {
  try {
    return JSON.parse(JSON.stringify(v) ?? 'null');
  } catch (e) {
    throw new InputError(
      `${what}: cannot be read as plain data (${e instanceof RangeError ? 'nested too deeply' : e instanceof TypeError ? 'a cycle or a BigInt' : 'a property getter threw'})`,
      { cause: e },
    );
  }
}

/** LoadOptions.tuning, checked, as a copy of plain data. */
function checkTuning(t: unknown, device: GPUDevice): Tuning {
  const copy = plainCopy(t, 'tuning');
  const problem = tuningProblem(copy, device.limits.maxComputeInvocationsPerWorkgroup);
  if (problem) throw new InputError(`tuning: ${problem}`);
  return copy as Tuning;
}

/** A cached tuning is only as good as the device it was measured on: subgroup kernels need the same size. */
function usable(device: GPUDevice, t: Tuning): boolean {
  if (tuningProblem(t, device.limits.maxComputeInvocationsPerWorkgroup)) return false; // a damaged cache file
  const size = fixedSubgroupSize(device, adapterOf(device));
  return [t.conv2d, t.convTranspose2x2, ...(t.conv3d ? [t.conv3d] : []), ...Object.values(t.layers ?? {})].every(
    (k) => k.weights !== 'subgroup' || k.subgroupSize === size,
  );
}

/** A model from an unoptimized graph and its architecture's info (parameters counted on that graph). */
export function modelFromGraph(
  device: GPUDevice,
  graph: Graph,
  archInfo: Omit<ModelInfo, 'outChannels' | 'weightBytes' | 'source' | 'metadata' | 'tuning' | 'precision' | 'warnings'>,
  options: LoadOptions & { source?: string; metadata?: Record<string, string>; tuningSource?: ModelInfo['tuning']; warnings?: string[] } = {},
): Model {
  // which kernel each conv runs on is decided per compiled graph (src/ops/convVariant.ts); a given tuning
  // is run as given, the default one with F(4x4,3x3) only where the model-wide rule lets it
  const tuning = options.tuning ? asGiven(options.tuning) : tuningFor(device, adapterOf(device));
  checkPrecision(options.precision);
  // checked before the weights go to the GPU (the Model checks them again, with the same messages)
  const pc = options.planCacheBytes;
  if (pc !== undefined && !(typeof pc === 'number' && pc >= 0 && Number.isFinite(pc)))
    throw new InputError(`planCacheBytes must be a number of bytes >= 0, found ${shownValue(pc)}`);
  const mb = options.maxBindingBytes;
  if (mb !== undefined && !(Number.isSafeInteger(mb) && (mb as number) >= 256))
    throw new InputError(`maxBindingBytes must be an integer number of bytes >= 256, found ${shownValue(mb)}`);
  const precision = options.precision ?? 'f32';
  if (options.pad !== undefined) checkPadMode(options.pad, 'pad');
  if (precision === 'f16' && !device.features.has('shader-f16')) {
    throw new UnsupportedError("precision 'f16' needs the adapter's shader-f16 feature, which this device does not have; use 'f32'");
  }
  checkGraph(graph);
  const optimized = optimize(graph);
  if (precision === 'f16') {
    const missing = withoutF16(optimized);
    if (missing.length)
      throw new UnsupportedError(
        `precision 'f16': ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''} have no f16 kernel; use 'f32'`,
      );
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
  return new Model(device, info, optimized, store, tuning, options.pad, options.planCacheBytes, options.maxBindingBytes);
}
