// Whatever an app holds as an image, as pixels: raw arrays and ImageData as they are; in browsers and
// workers, ImageBitmap, <img>, <canvas>, OffscreenCanvas and Blob / File decoded by the browser
// (createImageBitmap, then a 2-D canvas); PNG / JPEG bytes, file paths and URLs (fetched) by the
// platform's decoder (Node: src/io/image.ts), or the browser's where there is none. Every browser API is feature-detected at run time, so this module loads in
// Node and in a worker alike. Browser-safe: no Node imports.
import { ImageError, InputError, checkOptionNames, throwIfAborted } from '../errors.js';
import { platform } from '../gpu/platform.js';
import { fetchBytes, isUrl } from './fetch.js';
import { type Limits, LimitError, exceeds, formatCount, resolveLimits } from '../limits.js';

/** Interleaved pixels, row-major: 1 gray, 3 RGB, 4 RGBA (alpha ignored). Float32Array values are on the
 *  same 0..255 scale as the 8-bit ones (neither rounded nor clamped). */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray | Float32Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/**
 * An image for model.segment: raw pixels (RawImage, or ImageData, which is RGBA); in browsers and
 * workers an ImageBitmap, HTMLImageElement, HTMLCanvasElement, OffscreenCanvas, or a Blob / File holding
 * an image; PNG or JPEG bytes (browsers decode them as a Blob); a URL (fetched: a URL object, an http(s)
 * string, in browsers any string); a file path (Node).
 */
export type ImageSource =
  | RawImage
  | ImageData
  | ImageBitmap
  | HTMLImageElement
  | HTMLCanvasElement
  | OffscreenCanvas
  | Blob
  | Uint8Array
  | ArrayBuffer
  | URL
  | string;

export interface ReadImageOptions {
  /** maxPixels, maxInputBytes and maxJpegScans apply (defaults: DEFAULT_LIMITS); for a URL also headersTimeoutMs
   *  and idleTimeoutMs (a TimeoutError, code 'TIMEOUT', when its server stalls) */
  limits?: Partial<Limits>;
  signal?: AbortSignal;
}

/** The image's pixels. Browser-decoded images come as RGBA, or as gray when R = G = B everywhere. */
export async function readImage(image: ImageSource, options: ReadImageOptions = {}): Promise<RawImage> {
  checkOptionNames(options, ['limits', 'signal'], 'readImage');
  const limits = resolveLimits(options.limits);
  throwIfAborted(options.signal, 'reading the image');
  const px = await pixelsOf(image, limits, options.signal);
  throwIfAborted(options.signal, 'reading the image');
  return px;
}

async function pixelsOf(image: ImageSource, limits: Limits, signal: AbortSignal | undefined): Promise<RawImage> {
  const hasPaths = platform().readFile !== undefined;
  if (isUrl(image, hasPaths)) {
    const url = String(image as string | URL);
    return decodeBytes(await fetchBytes(url, { limits, limit: 'maxInputBytes', errorClass: InputError, signal }), limits, url);
  }
  if (typeof image === 'string') return decodeBytes(await readPath(image, limits), limits, image);
  if (image instanceof ArrayBuffer) return decodeBytes(new Uint8Array(image), limits);
  if (image instanceof Uint8Array && !isRaw(image)) return decodeBytes(image, limits);
  if (isA<Blob>(image, 'Blob')) {
    if (image.size > limits.maxInputBytes) throw exceeds(`an image of ${image.size} bytes`, 'maxInputBytes', limits);
    if (platform().decodeImage) return decodeBytes(new Uint8Array(await image.arrayBuffer()), limits);
    return browserDecode(image, limits);
  }
  if (isRaw(image)) return checkRaw(image, limits);
  if (['ImageBitmap', 'HTMLImageElement', 'HTMLCanvasElement', 'OffscreenCanvas', 'HTMLVideoElement', 'VideoFrame'].some((k) => isA(image, k))) {
    return browserDecode(image as ImageBitmapSource, limits);
  }
  throw new InputError(
    `image: expected pixels { data, width, height, channels }, ImageData, an ImageBitmap, <img>, <canvas>, OffscreenCanvas, Blob, PNG / JPEG bytes or a file path; found ${describe(image)}`,
  );
}

/** `x instanceof globalThis[name]`, false where this environment has no such class. */
function isA<T>(x: unknown, name: string): x is T {
  const C = (globalThis as Record<string, unknown>)[name];
  return typeof C === 'function' && x instanceof (C as new () => unknown);
}

function isRaw(x: unknown): x is RawImage | ImageData {
  return typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x;
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return (x as object).constructor?.name ?? 'an object';
}

/** Raw pixels or ImageData, checked: sizes, channels, the array's type and length, maxPixels. */
function checkRaw(img: RawImage | ImageData, limits: Limits): RawImage {
  const { width: W, height: H, data } = img;
  if (!(Number.isSafeInteger(W) && Number.isSafeInteger(H) && W > 0 && H > 0)) throw new InputError(`image: size ${W}x${H} must be positive integers`);
  if (W * H > limits.maxPixels) throw exceeds(`${W}x${H} = ${formatCount(W * H)} pixels`, 'maxPixels', limits);
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray || data instanceof Float32Array)) {
    throw new InputError(`image: data must be a Uint8Array, Uint8ClampedArray or Float32Array, found ${describe(data)}`);
  }
  // ImageData has no channels: it is RGBA
  const channels = 'channels' in img ? img.channels : 4;
  if (channels !== 1 && channels !== 3 && channels !== 4)
    throw new InputError(`image: channels must be 1 (gray), 3 (RGB) or 4 (RGBA), found ${JSON.stringify(channels)}`);
  if (data.length !== W * H * channels)
    throw new InputError(`image: data has ${data.length} values, ${W}x${H} with ${channels} channels needs ${W * H * channels}`);
  return { data, width: W, height: H, channels };
}

async function readPath(path: string, limits: Limits): Promise<Uint8Array> {
  try {
    return await platform().readFile!(path, limits.maxInputBytes, 'maxInputBytes');
  } catch (e) {
    if (e instanceof LimitError) throw e;
    const code = (e as { code?: unknown }).code;
    throw new InputError(typeof code === 'string' ? `${path}: cannot read (${code})` : (e as Error).message, { cause: e });
  }
}

/** PNG / JPEG bytes: the platform's decoder (Node), else the browser's. Errors name the file when there is one. */
async function decodeBytes(bytes: Uint8Array, limits: Limits, path?: string): Promise<RawImage> {
  if (bytes.length > limits.maxInputBytes) throw exceeds(`an image of ${bytes.length} bytes`, 'maxInputBytes', limits);
  const decode = platform().decodeImage;
  if (!decode) return browserDecode(new Blob([bytes as Uint8Array<ArrayBuffer>]), limits);
  try {
    if (bytes.length === 0) throw new ImageError('empty file');
    return decode(bytes, limits);
  } catch (e) {
    // the file's name in front, the class kept
    if (path !== undefined && e instanceof InputError) e.message = `${path}: ${e.message}`;
    throw e;
  }
}

/**
 * The browser's decoder: createImageBitmap with no colour-space conversion and no premultiplied alpha
 * (the file's own values, as Node's decoder gives them), drawn into a 2-D canvas and read back as RGBA.
 */
async function browserDecode(src: ImageBitmapSource, limits: Limits): Promise<RawImage> {
  if (typeof createImageBitmap !== 'function')
    throw new InputError('image: this environment cannot decode images (no createImageBitmap); pass pixels { data, width, height, channels }');
  if (isA<HTMLImageElement>(src, 'HTMLImageElement') && !(src.complete && src.naturalWidth > 0)) {
    await src.decode().catch((e: unknown) => {
      throw new ImageError(`not a readable image (${(e as Error)?.message ?? e})`);
    });
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(src, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new ImageError(`not a readable image (${(e as Error)?.message ?? e})`);
  }
  try {
    const { width: W, height: H } = bitmap;
    if (W * H === 0) throw new ImageError('image has no pixels');
    if (W * H > limits.maxPixels) throw exceeds(`${W}x${H} = ${formatCount(W * H)} pixels`, 'maxPixels', limits);
    const canvas = typeof OffscreenCanvas === 'function' ? new OffscreenCanvas(W, H) : Object.assign(document.createElement('canvas'), { width: W, height: H });
    const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
    if (!ctx) throw new InputError('image: no 2-D canvas to read the pixels with');
    ctx.drawImage(bitmap, 0, 0);
    return grayIfEqual({ data: ctx.getImageData(0, 0, W, H).data, width: W, height: H, channels: 4 });
  } finally {
    bitmap.close();
  }
}

/** RGBA whose R, G and B are equal everywhere, as one gray channel: a gray file decodes to RGBA in a
 *  browser, and as gray it gets the same treatment it gets in Node (repeated, not converted). */
function grayIfEqual(img: RawImage): RawImage {
  const d = img.data;
  for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return img;
  const gray = new Uint8Array(img.width * img.height);
  for (let i = 0; i < gray.length; i++) gray[i] = d[4 * i];
  return { data: gray, width: img.width, height: img.height, channels: 1 };
}
