// Reading an image file in the worker: the library's reader (the browser's decoders, createImageBitmap and
// an OffscreenCanvas, at the full size, within DEFAULT_LIMITS), with its refusals put in plain words that
// name the file.
import { ImageError, type RawImage, UnetError, readImage } from '../src/index.js';

/** What the first bytes say the file is, for the error message. */
function sniff(b: Uint8Array): string | undefined {
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'PNG';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'JPEG';
  if (b.length >= 12 && String.fromCharCode(...b.subarray(8, 12)) === 'WEBP') return 'WebP';
  if (b.length >= 6 && String.fromCharCode(...b.subarray(0, 3)) === 'GIF') return 'GIF';
  return undefined;
}

/** The pixels of `blob` (RGBA, or gray when R = G = B), named `name` in errors. */
export async function readImageFile(blob: Blob, name: string, signal: AbortSignal): Promise<RawImage> {
  if (blob.size === 0) throw new ImageError(`${name}: empty file (0 bytes)`);
  try {
    return await readImage(blob, { signal });
  } catch (e) {
    if (e instanceof ImageError) {
      const kind = sniff(new Uint8Array(await blob.slice(0, 16).arrayBuffer()));
      throw new ImageError(
        kind ? `${name}: a damaged ${kind} file (truncated or corrupt): the browser cannot decode it` : `${name}: not an image (expected PNG or JPEG)`,
      );
    }
    if (e instanceof UnetError && e.name !== 'AbortError') e.message = `${name}: ${e.message}`;
    throw e;
  }
}
