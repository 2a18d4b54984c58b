// The full-size files a result offers: the mask (or the label map of a multi-class model), the overlay
// and the probabilities (16-bit), named after the image as `unet segment` names them.
import type { DownloadArgs } from './protocol.js';
import type { Stored } from './worker.js';

export function downloadFile(r: Stored, args: DownloadArgs): { name: string; bytes: Uint8Array } {
  throw new Error(`downloads: not yet (${r.name}, ${args.kind})`);
}
