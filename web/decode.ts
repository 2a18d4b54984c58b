// Decoding an image file in the worker with the browser's own decoders (createImageBitmap, then an
// OffscreenCanvas to read the pixels), at its full size, with a plain-words error when it is not one.
import type { RgbaImage } from './preprocess.js';

export class ImageFileError extends Error {
  override name = 'ImageFileError';
}

/** What the first bytes say the file is, for the error message. */
function sniff(b: Uint8Array): string | undefined {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'PNG';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'JPEG';
  if (b.length >= 12 && String.fromCharCode(...b.subarray(8, 12)) === 'WEBP') return 'WebP';
  if (b.length >= 6 && String.fromCharCode(...b.subarray(0, 3)) === 'GIF') return 'GIF';
  return undefined;
}

/** The decoded RGBA pixels of `blob`, named `name` in errors. */
export async function decodeImageFile(blob: Blob, name: string): Promise<RgbaImage> {
  if (blob.size === 0) throw new ImageFileError(`${name}: empty file (0 bytes)`);
  let bitmap: ImageBitmap;
  try {
    // No colour management and no premultiplication, so a PNG's pixel values come through unchanged.
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    const kind = sniff(new Uint8Array(await blob.slice(0, 16).arrayBuffer()));
    throw new ImageFileError(
      kind ? `${name}: a damaged ${kind} file (truncated or corrupt): the browser cannot decode it` : `${name}: not an image (expected PNG or JPEG)`,
    );
  }
  const { width, height } = bitmap;
  try {
    const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    if (!ctx) throw new ImageFileError(`${name}: ${width}×${height} is too large for this browser's canvas`);
    ctx.drawImage(bitmap, 0, 0);
    return { data: ctx.getImageData(0, 0, width, height).data, width, height };
  } catch (e) {
    if (e instanceof ImageFileError) throw e;
    throw new ImageFileError(`${name}: ${width}×${height} is too large for this browser to read its pixels (${(e as Error).message})`);
  } finally {
    bitmap.close();
  }
}
