// 8-bit images in and out: PNG (pngjs) and JPEG (jpeg-js), both pure JavaScript, so nothing native has
// to install. Decoded images are gray (1 channel) or RGB (3, interleaved); alpha is dropped.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export interface Image {
  width: number;
  height: number;
  channels: 1 | 3;
  /** H x W x channels, row-major */
  data: Uint8Array;
}

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

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

/** Decodes a PNG or JPEG; throws ImageError with a one-line problem (no file name). */
export function decodeImage(bytes: Uint8Array): Image {
  const kind = sniff(bytes);
  if (kind === 'png') return decodePng(bytes);
  if (kind === 'jpeg') return decodeJpeg(bytes);
  throw new ImageError('unsupported format (PNG, JPEG, NIfTI .nii / .nii.gz are read)');
}

function decodePng(bytes: Uint8Array): Image {
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

function decodeJpeg(bytes: Uint8Array): Image {
  const components = jpegComponents(bytes);
  if (components !== 1 && components !== 3) throw new ImageError(`JPEG with ${components} color components (CMYK?): only gray and RGB are read`);
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024, maxResolutionInMP: 200 });
  } catch (e) {
    throw new ImageError(`not a readable JPEG (${oneLine(e)})`);
  }
  return fromRgba(img.data, img.width, img.height, components === 1);
}

/** The component count in the JPEG's frame header (SOFn), or 0 when there is none. */
function jpegComponents(b: Uint8Array): number {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return 0;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    const len = (b[i + 2] << 8) | b[i + 3];
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return b[i + 9];
    if (marker === 0xda) return 0; // start of scan before any frame header
    i += 2 + len;
  }
  throw new ImageError('truncated JPEG: no frame header');
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

/** PNG bytes of an 8-bit gray or RGB image, or a 16-bit gray one (`data` a Uint16Array). */
export function encodePng(width: number, height: number, channels: 1 | 3, data: Uint8Array | Uint16Array): Uint8Array {
  const sixteen = data instanceof Uint16Array;
  const colorType = channels === 1 ? 0 : 2;
  const png = new PNG({ width, height, colorType, inputColorType: colorType, bitDepth: sixteen ? 16 : 8, inputHasAlpha: false });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return PNG.sync.write(png, { colorType, inputColorType: colorType, bitDepth: sixteen ? 16 : 8, inputHasAlpha: false });
}

const oneLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];
