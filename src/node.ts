// The package's Node entry: the public API with WebGPU from Dawn (the `webgpu` package) and file paths
// accepted where the API takes bytes. Browsers use src/index.ts, which has no Node imports.
import './gpu/node.js';
export * from './index.js';
