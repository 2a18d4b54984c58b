// Where a GPU comes from. This file and src/gpu/node.ts are the only code that knows Node from a browser:
// the default platform is the browser's `navigator.gpu`; importing the package's Node entry
// (src/node.ts) installs the Dawn-backed one from src/gpu/node.ts.
import type { Limits } from '../limits.js';

/** Decoded 8-bit pixels, H x W x channels row-major: what src/io/image.ts calls an Image (declared here so
 *  that gpu/ needs nothing from io/, which sits above it). */
export interface DecodedPixels {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

export interface Platform {
  /** A short name for messages: "browser" or "node (Dawn)". */
  name: string;
  /** The GPU entry point, or undefined when this environment has no WebGPU at all. */
  gpu(): Promise<GPU | undefined>;
  /** What to tell a user when no adapter is found. */
  noAdapterHint: string;
  /** Reads a regular file of at most `maxBytes` (Node only): anything else (a FIFO, a device, a larger
   *  file) is refused before it is read, with an error naming the path and the limit that raises it. */
  readFile?(path: string, maxBytes?: number, limit?: 'maxWeightsBytes' | 'maxInputBytes'): Promise<Uint8Array>;
  /** Decodes PNG / JPEG bytes (Node: pngjs and src/io/jpeg.ts; browsers decode with createImageBitmap instead). */
  decodeImage?(bytes: Uint8Array, limits: Partial<Limits>): DecodedPixels;
  /** Whether a path is a folder (Node only; model folders hold config.json + model.safetensors). */
  isDirectory?(path: string): Promise<boolean>;
  /** A folder's files, or a zip's entries, as a listing read one file at a time (Node only: nnU-Net results
   *  folders and the zips nnUNetv2_export_model_to_zip writes). */
  listFiles?(path: string, limits: Partial<Limits>): Promise<{ source: string; paths: readonly string[]; read(path: string): Promise<Uint8Array> }>;
  /** Lets go of the GPU entry point so the process can exit (Node: Dawn keeps it alive). */
  release?(): void;
  /** Small persistent text entries (tuning results): Node, files under the user's cache folder;
   *  browser, localStorage. `write` returns where the entry went. */
  cache?: {
    read(name: string): Promise<string | undefined>;
    write(name: string, text: string): Promise<string>;
  };
}

const STORAGE_PREFIX = 'webgpu-unet:';

const browserPlatform: Platform = {
  name: 'browser',
  async gpu() {
    return typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  },
  noAdapterHint:
    'this browser exposes no WebGPU adapter: use a current Chrome, Edge or Safari, or in Chromium on Linux ' +
    'start it with --enable-unsafe-webgpu (and --enable-features=Vulkan where a Vulkan driver is installed)',
  cache: {
    async read(name) {
      try {
        return globalThis.localStorage?.getItem(STORAGE_PREFIX + name) ?? undefined;
      } catch {
        return undefined; // storage disabled (private mode, sandboxed frame)
      }
    },
    async write(name, text) {
      globalThis.localStorage?.setItem(STORAGE_PREFIX + name, text);
      return `localStorage["${STORAGE_PREFIX + name}"]`;
    },
  },
};

let current: Platform = browserPlatform;

export function setPlatform(p: Platform): void {
  current = p;
}

export function platform(): Platform {
  return current;
}
