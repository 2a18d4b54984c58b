// PNG writing in plain JavaScript (fflate's deflate), so browsers and Node make the same files: 8-bit
// gray, gray + alpha, RGB and RGBA, 16-bit gray (probabilities), and indexed colour for class maps.
// Indexed PNGs (colour type 3) hold one byte per pixel, the class index, with a PLTE chunk of the class
// colours: decoders that expand palettes (pngjs, browsers) show the colours; the raw samples are the
// class indices. PNG spec: https://www.w3.org/TR/png-3/ (IHDR 11.2.1, PLTE 11.2.2, IDAT 11.2.3,
// filtering 7.3 and 9). Browser-safe: no Node imports.
import { zlibSync } from 'fflate';
import { InputError } from '../errors.js';
import { shownValue } from '../limits.js';
import { concatBytes } from './bytes.js';

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

/** Pixels to write: `channels` samples a pixel, row-major; 8-bit (Uint8Array, Uint8ClampedArray as in
 *  ImageData) or 16-bit (Uint16Array). Without `channels`, it is data.length / (width * height). */
export interface PngImage {
  width: number;
  height: number;
  data: Uint8Array | Uint8ClampedArray | Uint16Array;
  channels?: 1 | 2 | 3 | 4;
}

// samples a pixel -> PNG colour type: gray, gray + alpha, RGB, RGBA (a Map: a caller's value never
// finds an Object.prototype name)
const COLOR_TYPE = new Map<unknown, number>([
  [1, 0],
  [2, 4],
  [3, 2],
  [4, 6],
]);
/** PNG's largest width or height (spec 11.2.1: 2^31 - 1). */
const PNG_MAX_SIDE = 2 ** 31 - 1;

/** PNG bytes of an image: 8-bit gray / gray + alpha / RGB / RGBA, or 16 bits a sample for a Uint16Array. */
export function encodePng(image: PngImage): Uint8Array {
  if (typeof image !== 'object' || image === null)
    throw new InputError(`encodePng: expected an image { width, height, data }, found ${image === null ? 'null' : typeof image}`);
  const { width, height, data } = image;
  checkSize(width, height, 'PNG');
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray || data instanceof Uint16Array)) {
    throw new InputError(`PNG: data must be a Uint8Array, Uint8ClampedArray or Uint16Array, found ${shownValue(data)}`);
  }
  const channels = image.channels === undefined ? data.length / (width * height) : image.channels;
  const colorType = COLOR_TYPE.get(channels);
  if (colorType === undefined) {
    throw new InputError(
      image.channels === undefined
        ? `PNG: ${data.length} samples for ${width}x${height} pixels is not 1, 2, 3 or 4 a pixel`
        : `PNG: channels must be 1, 2, 3 or 4, found ${shownValue(channels)}`,
    );
  }
  if (data.length !== width * height * channels) throw new InputError(`PNG: ${data.length} samples for ${width}x${height} pixels of ${channels} channels`);
  const sampleBytes = data instanceof Uint16Array ? 2 : 1;
  const rowBytes = width * channels * sampleBytes;
  // samples as bytes, big-endian for 16 bits (PNG spec 7.1)
  const bytes = new Uint8Array(height * rowBytes);
  if (sampleBytes === 1) bytes.set(data);
  else for (let i = 0; i < data.length; i++) [bytes[2 * i], bytes[2 * i + 1]] = [data[i] >> 8, data[i] & 0xff];
  const ihdr = header(width, height, 8 * sampleBytes, colorType);
  return pngFile([pngChunk('IHDR', ihdr), pngChunk('IDAT', zlibSync(filtered(bytes, height, rowBytes, channels * sampleBytes)))]);
}

/**
 * PNG bytes of a `width` x `height` map of indices into `palette` (at most 256 RGB colours; every index must
 * be below palette.length, as decoders reject the file otherwise).
 */
export function encodePalettePng(width: number, height: number, indices: Uint8Array, palette: readonly (readonly [number, number, number])[]): Uint8Array {
  checkSize(width, height, 'palette PNG');
  if (!(indices instanceof Uint8Array) || indices.length !== width * height)
    throw new InputError(`palette PNG: ${shownValue(indices)} indices for ${width}x${height} pixels`);
  if (!Array.isArray(palette) || palette.length < 1 || palette.length > 256)
    throw new InputError(`palette PNG: ${Array.isArray(palette) ? palette.length : shownValue(palette)} colours, expected 1 to 256`);
  for (const v of indices) if (v >= palette.length) throw new InputError(`palette PNG: index ${v} is past the palette's ${palette.length} colours`);
  const plte = new Uint8Array(3 * palette.length);
  palette.forEach((rgb, i) => plte.set(rgb, 3 * i));
  // indices are labels, not intensities: no filter (type 0) on each row
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(indices.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  return pngFile([pngChunk('IHDR', header(width, height, 8, 3)), pngChunk('PLTE', plte), pngChunk('IDAT', zlibSync(raw))]);
}

function checkSize(width: unknown, height: unknown, what: string): void {
  const side = (v: unknown) => Number.isInteger(v) && (v as number) > 0 && (v as number) <= PNG_MAX_SIDE;
  if (!(side(width) && side(height)))
    throw new InputError(`${what}: size ${shownValue(width)}x${shownValue(height)} must be positive integers up to ${PNG_MAX_SIDE}`);
}

/** IHDR data: size, bit depth, colour type, then deflate, filter method 0, no interlace. */
function header(width: number, height: number, bitDepth: number, colorType: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr.set([bitDepth, colorType, 0, 0, 0], 8);
  return ihdr;
}

/** The signature, the chunks given, IEND. */
function pngFile(chunks: Uint8Array[]): Uint8Array {
  return concatBytes([Uint8Array.from(PNG_SIGNATURE), ...chunks, pngChunk('IEND', new Uint8Array(0))]);
}

/**
 * Each row with the filter that makes it smallest by libpng's heuristic (least sum of |byte| taken as
 * signed), a filter-type byte in front (PNG spec 9.2): photos shrink by a third or more over no filter.
 * `bpp`: bytes a pixel, the distance Sub, Average and Paeth look back.
 */
function filtered(bytes: Uint8Array, height: number, rowBytes: number, bpp: number): Uint8Array {
  const out = new Uint8Array(height * (rowBytes + 1));
  const trial = new Uint8Array(rowBytes);
  const zero = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    const row = bytes.subarray(y * rowBytes, (y + 1) * rowBytes);
    const up = y > 0 ? bytes.subarray((y - 1) * rowBytes, y * rowBytes) : zero;
    const dst = out.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    let best = Infinity;
    for (let type = 0; type < 5; type++) {
      let cost = 0;
      for (let i = 0; i < rowBytes; i++) {
        const a = i >= bpp ? row[i - bpp] : 0;
        const b = up[i];
        const c = i >= bpp ? up[i - bpp] : 0;
        const predictor = pngPredictor(type, a, b, c);
        const v = (row[i] - predictor) & 0xff;
        trial[i] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < best) {
        best = cost;
        out[y * (rowBytes + 1)] = type;
        dst.set(trial);
      }
    }
  }
  return out;
}

/** What filter `type` (PNG spec 9.2: 0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) predicts a byte from: the byte
 *  `a` to its left, `b` above, `c` above-left (0 off the image). Filtering subtracts it, decoding adds it. */
export function pngPredictor(type: number, a: number, b: number, c: number): number {
  return type === 0 ? 0 : type === 1 ? a : type === 2 ? b : type === 3 ? (a + b) >> 1 : paeth(a, b, c);
}

/** The Paeth predictor (PNG spec 9.4): whichever of left, up, upper-left is nearest to left + up - upper-left. */
function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}
