// Indexed-colour PNGs (colour type 3, 8 bits): one byte per pixel, the class index, with a PLTE chunk of the
// class colours. Decoders that expand palettes (pngjs, browsers) show the colours; reading the raw samples
// gives the class index. pngjs writes no palette PNGs, so the chunks are put together here.
// PNG spec: https://www.w3.org/TR/png-3/ (IHDR 11.2.1, PLTE 11.2.2, IDAT 11.2.3, filter type 0 per row).
import { deflateSync } from 'node:zlib';

/** The 8 bytes every PNG starts with. */
export const PNG_SIGNATURE: readonly number[] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** CRC-32 of a chunk's type and data (PNG spec section 5.5). */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC (PNG spec section 5.3). */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * PNG bytes of a `width` x `height` map of indices into `palette` (at most 256 RGB colours; every index must
 * be below palette.length, as decoders reject the file otherwise).
 */
export function encodePalettePng(width: number, height: number, indices: Uint8Array, palette: readonly (readonly [number, number, number])[]): Uint8Array {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new Error(`palette PNG: size ${width}x${height} must be positive integers`);
  if (indices.length !== width * height) throw new Error(`palette PNG: ${indices.length} indices for ${width}x${height} pixels`);
  if (palette.length < 1 || palette.length > 256) throw new Error(`palette PNG: ${palette.length} colours, expected 1 to 256`);
  for (const v of indices) if (v >= palette.length) throw new Error(`palette PNG: index ${v} is past the palette's ${palette.length} colours`);
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([8, 3, 0, 0, 0], 8); // bit depth 8, colour type 3 (indexed), deflate, filter method 0, no interlace
  const plte = new Uint8Array(3 * palette.length);
  palette.forEach((rgb, i) => plte.set(rgb, 3 * i));
  // each row: filter type 0 (none), then its indices
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const parts = [Uint8Array.from(PNG_SIGNATURE), pngChunk('IHDR', ihdr), pngChunk('PLTE', plte), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
