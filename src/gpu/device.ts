// Getting a GPUDevice with the limits and features the kernels need.
import { UnsupportedError } from '../errors.js';
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
  return device;
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

/** Lets go of the platform's GPU entry point so a Node process can exit once its devices are destroyed. */
export function releaseGpu(): void {
  platform().release?.();
}
