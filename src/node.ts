// The package's Node entry: the public API with WebGPU from Dawn (the `webgpu` package), file paths
// accepted where the API takes bytes, and PNG / JPEG bytes decoded for model.segment (pngjs; src/io/jpeg.ts).
// Browsers use src/index.ts, which has no Node imports.
import './gpu/node.js';
export * from './index.js';
