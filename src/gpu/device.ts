// Getting a GPUDevice with the limits and features the kernels need.
import { GpuError, UnsupportedError } from '../errors.js';
import { platform } from './platform.js';

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** 'compatibility' asks for a WebGPU compatibility-mode adapter (OpenGL ES backends). */
  featureLevel?: 'core' | 'compatibility';
  /** Use the adapter's software fallback if it has one. */
  forceFallbackAdapter?: boolean;
}

/** Limits worth raising to the adapter's maximum: larger images fit in one pass, bigger workgroups. */
const RAISED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupStorageSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
] as const;

/** Optional features the engine uses when present (f16 path, GPU timing). */
const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'timestamp-query', 'subgroups'];

/** No WebGPU here, or no adapter (code 'UNSUPPORTED'); the message says what to install. */
export class NoAdapterError extends UnsupportedError {
  override name = 'NoAdapterError';
}

const adapters = new WeakMap<GPUDevice, GPUAdapter>();

export async function getDevice(options: DeviceOptions = {}): Promise<GPUDevice> {
  const p = platform();
  const gpu = await p.gpu();
  if (!gpu) throw new NoAdapterError(`WebGPU is not available in this ${p.name} environment: ${p.noAdapterHint}`);
  const req: GPURequestAdapterOptions & { featureLevel?: string } = {
    powerPreference: options.powerPreference ?? 'high-performance',
  };
  if (options.featureLevel) req.featureLevel = options.featureLevel;
  if (options.forceFallbackAdapter) req.forceFallbackAdapter = true;
  const adapter = await gpu.requestAdapter(req);
  if (!adapter) throw new NoAdapterError(`WebGPU (${p.name}): ${p.noAdapterHint}`);

  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'webgpu-unet' });
  // Keep the adapter reachable as long as the device (Dawn can crash when it is collected early).
  adapters.set(device, adapter);
  watchUncapturedErrors(device, true);
  return device;
}

/** Who hears a device's uncaptured errors: the runs in flight (onUncapturedError). */
const uncaptured = new WeakMap<GPUDevice, Set<(e: GpuError) => void>>();

/**
 * Listens to `device`'s uncapturederror event: errors that no error scope caught (our submissions run
 * inside scopes, see src/gpu/buffers.ts withGpuErrors; this catches the rest, e.g. work another library
 * recorded on a shared device) fail every run in flight that subscribed through onUncapturedError, or,
 * with none in flight, are written to stderr. `silence` (devices getDevice created) prevents the event's
 * default: the `webgpu` package prints an uncaptured error with printf() to *stdout* unless a listener
 * calls preventDefault() (dawn.node GPUDevice::handleUncapturedError, src/dawn/node/binding/GPUDevice.cpp),
 * which corrupts `unet infer --out -`. A device the caller made keeps its default (their console).
 */
function watchUncapturedErrors(device: GPUDevice, silence: boolean): Set<(e: GpuError) => void> {
  let runs = uncaptured.get(device);
  if (runs) return runs;
  const subscribers = (runs = new Set());
  uncaptured.set(device, subscribers);
  device.addEventListener('uncapturederror', (event) => {
    if (silence) event.preventDefault();
    const e = gpuErrorOf(event.error, 'GPU work outside an error scope');
    if (subscribers.size) for (const fail of subscribers) fail(e);
    else if (silence) console.error(`webgpu-unet: ${e.message}`);
  });
  return runs;
}

/** Calls `fail` with each uncaptured error of `device` until the returned function is called. */
export function onUncapturedError(device: GPUDevice, fail: (e: GpuError) => void): () => void {
  const runs = watchUncapturedErrors(device, false);
  runs.add(fail);
  return () => void runs.delete(fail);
}

/** A WebGPU GPUError as a GpuError: its class, and the first line of its message (Dawn adds context lines). */
export function gpuErrorOf(error: GPUError, what: string): GpuError {
  const kind =
    typeof GPUOutOfMemoryError !== 'undefined' && error instanceof GPUOutOfMemoryError
      ? 'out-of-memory'
      : typeof GPUValidationError !== 'undefined' && error instanceof GPUValidationError
        ? 'validation'
        : 'internal';
  return new GpuError(what, kind, error.message.split('\n')[0]);
}

export function adapterOf(device: GPUDevice): GPUAdapter | undefined {
  return adapters.get(device);
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  features: string[];
  limits: Record<string, number>;
}

/** The adapter behind `device`: its identity, and its features and limits (what it could give, which
 *  may be more than this device asked for). */
export function describeDevice(device: GPUDevice): AdapterSummary {
  const adapter = adapters.get(device);
  const info = adapter?.info ?? (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const source = adapter ?? device;
  const limits: Record<string, number> = {};
  // GPUSupportedLimits' fields are getters on the prototype: walk them.
  for (const key in source.limits) {
    const v = (source.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    features: [...source.features].sort(),
    limits,
  };
}

/**
 * Whether the adapter behind `device` runs on the CPU (Mesa's llvmpipe / lavapipe, SwiftShader, WARP):
 * there, waiting on the GPU by polling takes a core from the rasterizer's own threads, so the executor
 * sleeps through most of a run before it waits (src/gpu/buffers.ts readBack). Dawn reports such an
 * adapter with info.isFallbackAdapter and architecture 'software'; the names catch older Dawns.
 */
export function isSoftwareAdapter(device: GPUDevice): boolean {
  const info = (adapters.get(device)?.info ?? (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo) as
    | (GPUAdapterInfo & { isFallbackAdapter?: boolean })
    | undefined;
  if (!info) return false;
  if (info.isFallbackAdapter || info.architecture === 'software') return true;
  return /llvmpipe|lavapipe|swiftshader|microsoft basic render/i.test(`${info.vendor} ${info.device} ${info.description}`);
}

/** Lets go of the platform's GPU entry point so a Node process can exit once its devices are destroyed. */
export function releaseGpu(): void {
  platform().release?.();
}
