// 8-bit images in: PNG (pngjs) and JPEG (src/io/jpeg.ts, which gives libjpeg-turbo's pixels, as PIL and
// browsers do), both pure JavaScript, so nothing native has to install. Decoded images are gray
// (1 channel) or RGB (3, interleaved); alpha is dropped. Node only (node:zlib); PNGs are written by
// src/io/png.ts.
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { ImageError } from '../errors.js';
import { exceeds, formatCount, resolveLimits, type Limits } from '../limits.js';
import { decodeJpeg } from './jpeg.js';

export interface Image {
  width: number;
  height: number;
  channels: 1 | 3;
  /** H x W x channels, row-major */
  data: Uint8Array;
}

/** Decoding failures (code 'INPUT'); defined in src/errors.ts so browser code can throw it too. */
export { ImageError };

export type FileKind = 'png' | 'jpeg' | 'nifti' | 'nifti-gz';

/** The file's kind from its first bytes (not its name). */
export function sniff(bytes: Uint8Array): FileKind | undefined {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'nifti-gz'; // gzip: only NIfTI is read gzipped
  if (bytes.length >= 348) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = dv.getInt32(0, true);
    const nb = dv.getInt32(0, false);
    if (n === 348 || nb === 348 || n === 540 || nb === 540) return 'nifti';
  }
  return undefined;
}

export interface DecodeOptions {
  /** maxPixels and maxJpegScans apply (defaults: DEFAULT_LIMITS) */
  limits?: Partial<Limits>;
}

/**
 * Decodes a PNG or JPEG; throws ImageError with a one-line problem (no file name), or LimitError when the
 * image declares more pixels (or a JPEG more scans) than the limits allow: checked from the header,
 * before anything is inflated or decoded.
 */
export function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Image {
  const limits = resolveLimits(options.limits);
  const kind = sniff(bytes);
  if (kind === 'png') return decodePng(bytes, limits);
  if (kind === 'jpeg') return decodeJpeg(bytes, limits);
  throw new ImageError('unsupported format (PNG, JPEG, NIfTI .nii / .nii.gz are read)');
}

function checkPixels(width: number, height: number, limits: Limits): void {
  if (width * height > limits.maxPixels) throw exceeds(`${width}x${height} = ${formatCount(width * height)} pixels`, 'maxPixels', limits);
}

// PNG color type -> samples per pixel (https://www.w3.org/TR/png/#6Colour-values)
const PNG_SAMPLES: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * The IHDR's size is checked before pngjs runs: pngjs inflates the whole image at once, and an
 * interlaced one with no bound at all, so for those the IDAT stream is first inflated with a cap of
 * what the declared size can need (a bomb stops at the cap instead of taking gigabytes).
 */
function checkPng(bytes: Uint8Array, limits: Limits): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // signature (8), then the first chunk: length (4), type (4) "IHDR", width, height, depth, color, ..., interlace
  if (bytes.length < 33 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return; // pngjs says what is wrong
  const width = dv.getUint32(16);
  const height = dv.getUint32(20);
  checkPixels(width, height, limits);
  if (bytes[28] !== 1) return; // not interlaced: pngjs caps its inflate at the declared size
  const rowBytes = Math.ceil((width * (PNG_SAMPLES[bytes[25]] ?? 4) * bytes[24]) / 8) + 1;
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 12 <= bytes.length; ) {
    const len = dv.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (type === 'IDAT') idat.push(bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + len)));
    if (type === 'IEND') break;
    at += 12 + len;
  }
  // Adam7's seven passes add at most one filter byte per row of each pass
  const maxBytes = rowBytes * height + 7 * (height + 7) + 1024;
  try {
    inflateSync(Buffer.concat(idat), { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ImageError(`interlaced PNG whose image data inflates past the ${maxBytes} bytes its ${width}x${height} size needs (a decompression bomb?)`);
    }
    // corrupt data: pngjs reports it
  }
}

function decodePng(bytes: Uint8Array, limits: Limits): Image {
  checkPng(bytes, limits);
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new ImageError(`not a readable PNG (${oneLine(e)})`);
  }
  // pngjs gives 8-bit RGBA whatever the file holds (16-bit samples are scaled to 8 bits).
  const gray = !png.color;
  return fromRgba(png.data, png.width, png.height, gray);
}

function fromRgba(rgba: Uint8Array, width: number, height: number, gray: boolean): Image {
  const n = width * height;
  if (n === 0) throw new ImageError('image has no pixels');
  const channels = gray ? 1 : 3;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    if (gray) data[i] = rgba[4 * i];
    else {
      data[3 * i] = rgba[4 * i];
      data[3 * i + 1] = rgba[4 * i + 1];
      data[3 * i + 2] = rgba[4 * i + 2];
    }
  }
  return { width, height, channels, data };
}

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];
