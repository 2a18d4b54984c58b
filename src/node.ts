// The package's Node entry: the public API with WebGPU from Dawn (the `webgpu` package), file paths
// accepted where the API takes bytes, and PNG / JPEG bytes decoded for model.segment (pngjs; src/io/jpeg.ts).
// Browsers use src/index.ts, which has no Node imports.
import './gpu/node.js';
import { platform, setPlatform } from './gpu/platform.js';
import { decodeImage } from './io/image.js';
import { nnunetFiles } from './nnunetFiles.js';

// Image bytes are decoded here, above src/io, rather than by src/gpu/node.ts (gpu/ sits below io/); nnU-Net
// results folders and zips are listed here too (src/nnunetFiles.ts).
setPlatform({ ...platform(), decodeImage: (bytes, limits) => decodeImage(bytes, { limits }), listFiles: nnunetFiles });
export * from './index.js';
