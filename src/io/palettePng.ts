// The PNG writer moved to src/io/png.ts (one writer for every kind of PNG, browser-safe); these names
// stay importable from here for code written against the old module.
export { PNG_SIGNATURE, pngChunk, encodePalettePng } from './png.js';
