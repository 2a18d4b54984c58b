// nnU-Net's NaturalImage2DIO (nnunetv2/imageio/natural_image_reader_writer.py) for .png cases: each file read as
// skimage.io.imread reads it (imageio's Pillow plugin), a gray image as one channel and an RGB(A) one as three
// (four) with the colour moved to the front, every file of a case the same shape, stacked as float32 [C, 1, Y, X]
// with the spacing (999, 1, 1); the segmentation written back as a gray PNG of the label values, uint8 when every
// label is below 255 (write_seg: seg[0].astype(uint8 if max < 255 else uint16)).
//
// The samples are Pillow's: 8-bit values as they are; 16-bit gray as uint16 values (not scaled); 16-bit RGB(A)
// keeps each sample's high byte (Pillow's "RGB;16B" mode); 1-, 2- and 4-bit gray scaled to 0..255 (x255, x85,
// x17). A tRNS chunk on a gray or RGB image is ignored, as imageio ignores it. Palette and gray + alpha PNGs are
// refused: skimage's versions read them differently (imageio 2.x gives RGBA, or gray for a gray palette; the v3
// plugin RGB or gray + alpha), so which channels nnU-Net would see depends on the version installed. Our own
// decoder (fflate's inflate), not src/io/image.ts: that one scales 16-bit samples to 8 bits and drops alpha, as the
// image models want. Browser-safe: no Node imports.
import { unzlibSync } from 'fflate';
import { InputError } from '../errors.js';
import { encodePng, pngPredictor } from '../io/png.js';
import { exceeds, formatCount, type Limits } from '../limits.js';

/** NaturalImage2DIO's spacing: a 2D image is one slice, 999 apart. */
export const NATURAL_IMAGE_SPACING: readonly number[] = [999, 1, 1];

/** One decoded file: `channels` planes of height x width, float32 (row-major, x fastest). */
export interface NaturalImage {
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when the bytes start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

// colour type -> samples a pixel; 3 (palette) and 4 (gray + alpha) are refused before this is used
const SAMPLES = new Map<number, number>([
  [0, 1],
  [2, 3],
  [6, 4],
]);
const DEPTHS = new Map<number, readonly number[]>([
  [0, [1, 2, 4, 8, 16]],
  [2, [8, 16]],
  [3, [1, 2, 4, 8]],
  [4, [8, 16]],
  [6, [8, 16]],
]);
// Adam7 passes: x0, y0, dx, dy (PNG spec 8.2)
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

/** Reverses the scanline filters of one (sub-)image in place; returns the rows without their filter bytes. */
function unfilter(raw: Uint8Array, at: number, rows: number, rowBytes: number, bpp: number, what: string): Uint8Array {
  const out = new Uint8Array(rows * rowBytes);
  for (let y = 0; y < rows; y++) {
    const f = raw[at + y * (rowBytes + 1)];
    if (f > 4) throw new InputError(`${what}: PNG row ${y} has filter type ${f} (0..4 exist)`);
    const src = at + y * (rowBytes + 1) + 1;
    const o = y * rowBytes;
    const up = o - rowBytes;
    for (let i = 0; i < rowBytes; i++) {
      const x = raw[src + i];
      const a = i >= bpp ? out[o + i - bpp] : 0;
      const b = y > 0 ? out[up + i] : 0;
      const c = i >= bpp && y > 0 ? out[up + i - bpp] : 0;
      out[o + i] = (x + pngPredictor(f, a, b, c)) & 0xff;
    }
  }
  return out;
}

/**
 * A PNG as skimage.io.imread gives it to NaturalImage2DIO: channel planes (gray 1, RGB 3, RGBA 4) of the values
 * described above. `what` names the file in errors; maxPixels bounds the declared size before anything inflates.
 */
export function decodeNaturalPng(bytes: Uint8Array, what: string, limits: Limits): NaturalImage {
  if (!isPng(bytes)) throw new InputError(`${what}: not a PNG (the model's dataset.json file_ending is .png)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  let depth = 0;
  let colorType = -1;
  let interlace = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at + 12 <= bytes.length; ) {
    const len = dv.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (at + 12 + len > bytes.length) throw new InputError(`${what}: PNG chunk ${type} runs past the end of the file`);
    const body = bytes.subarray(at + 8, at + 8 + len);
    if (at === 8) {
      if (type !== 'IHDR' || len !== 13) throw new InputError(`${what}: PNG without an IHDR chunk first`);
      width = dv.getUint32(at + 8);
      height = dv.getUint32(at + 12);
      [depth, colorType] = [body[8], body[9]];
      interlace = body[12];
    } else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  if (width === 0 || height === 0) throw new InputError(`${what}: PNG of ${width}x${height} pixels`);
  if (!(DEPTHS.get(colorType) ?? []).includes(depth)) throw new InputError(`${what}: PNG colour type ${colorType} with bit depth ${depth} is not valid`);
  if (colorType === 3 || colorType === 4)
    throw new InputError(
      `${what}: a ${colorType === 3 ? 'palette' : 'gray + alpha'} PNG: skimage versions read it as different channels, so nnU-Net's input would depend on them; save it as gray, RGB or RGBA`,
    );
  if (interlace > 1) throw new InputError(`${what}: PNG interlace method ${interlace} (0 or 1 exist)`);
  if (idat.length === 0) throw new InputError(`${what}: PNG without image data`);
  if (width * height > limits.maxPixels) throw exceeds(`${what}: ${width}x${height} = ${formatCount(width * height)} pixels`, 'maxPixels', limits);
  const samples = SAMPLES.get(colorType) ?? 1;
  const bitsPerPixel = samples * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const passes = interlace
    ? ADAM7.map(([x0, y0, dx, dy]) => ({ x0, y0, dx, dy, w: Math.ceil((width - x0) / dx), h: Math.ceil((height - y0) / dy) })).filter((p) => p.w > 0 && p.h > 0)
    : [{ x0: 0, y0: 0, dx: 1, dy: 1, w: width, h: height }];
  const rowBytesOf = (w: number) => Math.ceil((w * bitsPerPixel) / 8);
  const need = passes.reduce((n, p) => n + p.h * (rowBytesOf(p.w) + 1), 0);
  let total = 0;
  for (const c of idat) total += c.length;
  const z = new Uint8Array(total);
  total = 0;
  for (const c of idat) {
    z.set(c, total);
    total += c.length;
  }
  let raw: Uint8Array;
  try {
    // the output buffer is what the declared size needs: a stream that inflates past it stops there
    raw = unzlibSync(z, { out: new Uint8Array(need) });
  } catch (e) {
    throw new InputError(`${what}: PNG image data does not inflate (${e instanceof Error ? e.message : String(e)})`);
  }
  if (raw.length < need) throw new InputError(`${what}: PNG image data holds ${raw.length} bytes, ${width}x${height} pixels need ${need}`);
  // output channels: gray 1, RGB 3, RGBA 4; planes [c][y][x]
  const n = width * height;
  const data = new Float32Array(samples * n);
  const gray = colorType === 0;
  const lowScale = gray && depth < 8 ? 255 / (2 ** depth - 1) : 1;
  let at = 0;
  for (const p of passes) {
    const rowBytes = rowBytesOf(p.w);
    const rows = unfilter(raw, at, p.h, rowBytes, bpp, what);
    at += p.h * (rowBytes + 1);
    for (let y = 0; y < p.h; y++) {
      const r = y * rowBytes;
      const oy = (p.y0 + y * p.dy) * width;
      for (let x = 0; x < p.w; x++) {
        const o = oy + p.x0 + x * p.dx;
        for (let s = 0; s < samples; s++) {
          let v: number;
          if (depth === 16) {
            const hi = rows[r + 2 * (x * samples + s)];
            // Pillow: 16-bit gray as its uint16 value ("I;16B"), 16-bit RGB(A) as each sample's high byte
            v = gray ? (hi << 8) | rows[r + 2 * (x * samples + s) + 1] : hi;
          } else if (depth === 8) v = rows[r + x * samples + s];
          else {
            const bit = x * depth;
            v = ((rows[r + (bit >> 3)] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1)) * lowScale;
          }
          data[s * n + o] = v;
        }
      }
    }
  }
  return { channels: samples, height, width, data };
}

/**
 * NaturalImage2DIO.read_images: the files' planes stacked as [C, 1, Y, X] in file order. Every file must have the
 * same shape, channels included (nnU-Net's _check_all_same), so an RGB file and a gray one do not mix.
 */
export function stackNaturalImages(images: readonly NaturalImage[], names: readonly string[]): { data: Float32Array; shape: number[]; spacing: number[] } {
  const [first] = images;
  const shapeOf = (im: NaturalImage) => `${im.channels} channel${im.channels === 1 ? '' : 's'} of ${im.width}x${im.height}`;
  for (let i = 1; i < images.length; i++)
    if (images[i].channels !== first.channels || images[i].width !== first.width || images[i].height !== first.height)
      throw new InputError(`${names[i]}: ${shapeOf(images[i])}, ${names[0]} has ${shapeOf(first)}: a case's images must share one shape (NaturalImage2DIO)`);
  const n = first.width * first.height * first.channels;
  const data = new Float32Array(images.length * n);
  for (const [i, im] of images.entries()) data.set(im.data, i * n);
  return { data, shape: [images.length * first.channels, 1, first.height, first.width], spacing: [...NATURAL_IMAGE_SPACING] };
}

/** NaturalImage2DIO.write_seg: the [1, Y, X] labels as a gray PNG, 8-bit below 255, else 16-bit. */
export function encodeSegmentationPng(labels: Uint8Array | Uint16Array, height: number, width: number): Uint8Array {
  let max = 0;
  for (const v of labels) if (v > max) max = v;
  const data = max < 255 ? (labels instanceof Uint8Array ? labels : Uint8Array.from(labels)) : Uint16Array.from(labels);
  return encodePng({ width, height, channels: 1, data });
}
