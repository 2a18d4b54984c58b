// A synthetic test image (no image files needed to make it) and a minimal PNG encoder, so the browser test
// knows the exact pixels the page decodes.
import { deflateSync } from 'node:zlib';
import type { RgbaImage } from '../../src/index.js';
import { PNG_SIGNATURE, pngChunk } from '../../src/io/palettePng.js';

/** A dark vertical gradient with three soft coloured blobs and a little deterministic noise; opaque. */
export function sampleImage(width: number, height: number): RgbaImage {
  const blobs = [
    { x: 0.3, y: 0.35, r: 0.22, rgb: [230, 90, 60] },
    { x: 0.7, y: 0.6, r: 0.28, rgb: [90, 200, 120] },
    { x: 0.45, y: 0.8, r: 0.12, rgb: [240, 240, 210] },
  ];
  const data = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      const base = 20 + (40 * y) / height;
      const rgb = [base, base * 0.9, base * 1.2];
      for (const b of blobs) {
        const dx = x / width - b.x;
        const dy = y / height - b.y;
        const w = Math.exp(-(dx * dx + dy * dy) / (b.r * b.r));
        for (let c = 0; c < 3; c++) rgb[c] = rgb[c] * (1 - w) + b.rgb[c] * w;
      }
      const noise = ((Math.imul((x * 73856093) ^ (y * 19349663), 0x9e3779b1) >>> 24) % 17) - 8; // -8..8
      for (let c = 0; c < 3; c++) data[i + c] = Math.round(rgb[c] + noise);
      data[i + 3] = 255;
    }
  }
  return { data, width, height };
}

// --- PNG (RGBA, 8 bit, no filter) ------------------------------------------------------------------------

export function encodePng(img: RgbaImage): Buffer {
  const { width, height } = img;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA, deflate, no filter method variants, no interlace
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0; // filter: none
    raw.set(img.data.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  }
  return Buffer.concat([Uint8Array.from(PNG_SIGNATURE), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array())]);
}
