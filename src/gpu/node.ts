// The Node platform: WebGPU through Dawn (the `webgpu` package). Imported only by the Node entry.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';
import { withoutDawnLimitWarnings } from './dawnLog.js';
import { LimitError } from '../limits.js';
import { setPlatform } from './platform.js';

/** Only a source checkout has it (src/gpu/ or dist/gpu/ -> scripts/); the npm package does not ship it. */
const SETUP_SCRIPT = fileURLToPath(new URL('../../scripts/setup-system.sh', import.meta.url));

// Dawn keeps the process alive while the object create() returned is reachable, and the process can
// crash if it is collected while a device is in use: hold it here until release().
let instance: GPU | undefined;

/** Dawn instance options. By default Dawn rounds timestamp-query values (steps of about 0.065 ms were seen
 *  on an H200; multiples of 64 ns on llvmpipe, exact nanoseconds with this toggle) to blunt timing attacks
 *  from web pages; a Node process serves no page, and the per-layer and whole-forward GPU times of
 *  `unet bench` (src/compiler/profile.ts) want the exact values. */
const DAWN_FLAGS = ['disable-dawn-features=timestamp_quantization'];

setPlatform({
  name: 'node (Dawn)',
  async gpu() {
    if (!instance) {
      // GPUBufferUsage, GPUShaderStage, ... as globals, like in a browser.
      Object.assign(globalThis, globals);
      instance = quietDiscovery(create(DAWN_FLAGS));
    }
    return instance;
  },
  noAdapterHint:
    "no WebGPU adapter found. Without a GPU, Dawn runs on Mesa's software Vulkan driver (lavapipe): " +
    'install Mesa >= 24 with its Vulkan drivers (Debian 12: libvulkan1 and mesa-vulkan-drivers from bookworm-backports; ' +
    `see "Requirements" in the README${existsSync(SETUP_SCRIPT) ? '; in this source checkout `bash scripts/setup-system.sh` does it' : ''}). ` +
    'With a GPU: install its Vulkan driver.',
  async isDirectory(path: string) {
    return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
  },
  async readFile(path: string, maxBytes = Infinity, limit = 'maxWeightsBytes') {
    const s = await stat(path);
    if (!s.isFile()) throw new Error(`${path}: not a regular file`);
    if (s.size > maxBytes) throw new LimitError(`${path}: a file of ${s.size} bytes is more than the ${maxBytes} allowed (raise limits.${limit})`, limit);
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  },
  release() {
    instance = undefined;
  },
  cache: {
    async read(name) {
      try {
        return await readFile(join(cacheDir(), name), 'utf8');
      } catch {
        return undefined;
      }
    },
    async write(name, text) {
      const dir = cacheDir();
      await mkdir(dir, { recursive: true });
      const path = join(dir, name);
      // write then rename: a reader never sees half a file; a failed write (a full disk) or rename
      // removes its temporary file, which is hidden and named for this process
      const tmp = join(dir, `.${name}.tmp-${process.pid}-${Date.now()}`);
      try {
        await writeFile(tmp, text);
        await rename(tmp, path);
      } catch (e) {
        await rm(tmp, { force: true }).catch(() => undefined);
        throw e;
      }
      return path;
    },
  },
});

/** The version of the `webgpu` package (Dawn's Node bindings) in use, for benchmark reports. */
export function webgpuPackageVersion(): string | undefined {
  try {
    return (createRequire(import.meta.url)('webgpu/package.json') as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** The instance, whose first requestAdapter() (Dawn's adapter discovery) keeps Dawn's limit-clamping
 *  warnings off stderr (src/gpu/dawnLog.ts). */
function quietDiscovery(gpu: GPU): GPU {
  const request = gpu.requestAdapter.bind(gpu);
  let discovered = false;
  gpu.requestAdapter = (options) => {
    if (discovered) return request(options);
    discovered = true;
    return withoutDawnLimitWarnings(() => request(options));
  };
  return gpu;
}

/** $WEBGPU_UNET_CACHE, else the XDG cache folder (~/.cache/webgpu-unet). */
function cacheDir(): string {
  return process.env.WEBGPU_UNET_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'webgpu-unet');
}
