// Where a GPU comes from. This file and src/gpu/node.ts are the only code that knows Node from a browser:
// the default platform is the browser's `navigator.gpu`; importing the package's Node entry
// (src/node.ts) installs the Dawn-backed one from src/gpu/node.ts.

export interface Platform {
  /** A short name for messages: "browser" or "node (Dawn)". */
  name: string;
  /** The GPU entry point, or undefined when this environment has no WebGPU at all. */
  gpu(): Promise<GPU | undefined>;
  /** What to tell a user when no adapter is found. */
  noAdapterHint: string;
  /** Reads a file by path (Node only). */
  readFile?(path: string): Promise<Uint8Array>;
  /** Lets go of the GPU entry point so the process can exit (Node: Dawn keeps it alive). */
  release?(): void;
}

const browserPlatform: Platform = {
  name: 'browser',
  async gpu() {
    return typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  },
  noAdapterHint:
    'this browser exposes no WebGPU adapter: use a current Chrome, Edge or Safari, or in Chromium on Linux ' +
    'start it with --enable-unsafe-webgpu (and --enable-features=Vulkan where a Vulkan driver is installed)',
};

let current: Platform = browserPlatform;

export function setPlatform(p: Platform): void {
  current = p;
}

export function platform(): Platform {
  return current;
}
