// The Node platform: WebGPU through Dawn (the `webgpu` package). Imported only by the Node entry.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import { setPlatform } from './platform.js';

// Dawn keeps the process alive while the object create() returned is reachable, and the process can
// crash if it is collected while a device is in use: hold it here until release().
let instance: GPU | undefined;

setPlatform({
  name: 'node (Dawn)',
  async gpu() {
    if (!instance) {
      // GPUBufferUsage, GPUShaderStage, ... as globals, like in a browser.
      Object.assign(globalThis, globals);
      instance = create([]);
    }
    return instance;
  },
  noAdapterHint:
    'no WebGPU adapter found. Without a GPU, Dawn runs on Mesa\'s software Vulkan driver (lavapipe): ' +
    'run `bash scripts/setup-system.sh` (Debian 12: libvulkan1 and mesa-vulkan-drivers from bookworm-backports; ' +
    'other distros: Mesa >= 24 with its Vulkan drivers). With a GPU: install its Vulkan driver.',
  async readFile(path: string) {
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
      // write then rename: a reader never sees half a file
      await writeFile(`${path}.tmp-${process.pid}`, text);
      await rename(`${path}.tmp-${process.pid}`, path);
      return path;
    },
  },
});

/** $WEBGPU_UNET_CACHE, else the XDG cache folder (~/.cache/webgpu-unet). */
function cacheDir(): string {
  return process.env.WEBGPU_UNET_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'webgpu-unet');
}
