// What the CLI checks on the way out: outputs that are NaN or Inf although the input was finite (a
// value past f32's range, 3e38, overflows inside the network and the mask there silently becomes 0), and
// `unet segment`'s output sets, written all or nothing and never over a file the run did not create.
import { closeSync, linkSync, openSync, renameSync, unlinkSync, writeFile } from 'node:fs';
import { promisify } from 'node:util';
import { printable } from '../limits.js';
import { firstNonFinite } from '../model.js';
import { CliError, fsError } from './errors.js';
import { statOrUndefined, tempName } from './files.js';
import { removeQuietly, settle, track } from './pending.js';

export interface NonFinite {
  count: number;
  total: number;
  /** "n 0, c 0, y 3, x 5" of the first */
  first: string;
}

/** NaN / Inf values in an NCHW (or NCDHW) output, with the first one's position; undefined when all are finite. */
export function nonFiniteOutputs(data: Float32Array, shape: readonly number[]): NonFinite | undefined {
  const first = firstNonFinite(data);
  if (first < 0) return undefined;
  let count = 0;
  for (let i = first; i < data.length; i++) if (data[i] - data[i] !== 0) count++;
  // the flat index as one index per axis, the last axis varying fastest
  const axes = shape.length === 5 ? ['n', 'c', 'z', 'y', 'x'] : ['n', 'c', 'y', 'x'];
  const at: string[] = [];
  let rest = first;
  for (let a = shape.length - 1; a >= 0; a--) {
    at.unshift(`${axes[a] ?? `axis${a}`} ${rest % shape[a]}`);
    rest = Math.floor(rest / shape[a]);
  }
  return { count, total: data.length, first: at.join(', ') };
}

/** The one-line warning (or, with --strict, error) for non-finite outputs of a finite input; `weights`:
 *  the model's weights hold NaN or Inf (model.info.warnings), which is then the cause given. */
export function nonFiniteMessage(what: string, nf: NonFinite, weights = false): string {
  const cause = weights
    ? 'the weights hold NaN or Inf values (see above)'
    : 'values too large for float32 arithmetic inside the network (scale the input down)';
  return `${what}: ${nf.count} of ${nf.total} output values are NaN or Inf (the first at ${nf.first}) although the input is finite: ${cause}; masks are 0 there`;
}

/** Whether a model's load warnings say its weights hold NaN or Inf. */
export const weightsNonFinite = (warnings: readonly string[]): boolean => warnings.some((w) => w.includes('weights hold NaN or Inf'));

/**
 * Writes one input's outputs as a set: every file to a temporary name first, then each moved into place;
 * if any step fails, the temporaries and the files already placed are removed, so no partial set stays
 * behind; a signal meanwhile removes them too (src/cli/pending.ts). Without `overwrite` a file is placed
 * with link() (which fails if the name exists: no race with another writer) instead of rename(), which
 * would replace it. The writes are asynchronous so that a signal is handled between them.
 * UNET_WRITE_PAUSE_MS=N waits N ms after each temporary file, to test an interrupted write.
 */
export async function writeOutputSet(files: ReadonlyMap<string, Uint8Array>, overwrite: boolean): Promise<void> {
  const temps: [tmp: string, out: string][] = [];
  const placed: string[] = [];
  try {
    for (const [out, bytes] of files) {
      if (statOrUndefined(out)?.isDirectory()) throw new CliError(`${printable(out)}: is a directory, expected a file path for the output`);
      const tmp = tempName(out);
      let fd: number | undefined;
      try {
        // created and made pending in one synchronous step, so a signal handler always finds it; 'wx':
        // a name that exists is someone else's file, never ours to write or remove
        fd = openSync(tmp, 'wx');
        track(tmp);
        temps.push([tmp, out]);
        await writeFd(fd, bytes);
        const done = fd;
        fd = undefined; // closed once, even if close() fails (a failed close still frees the descriptor)
        closeSync(done);
      } catch (e) {
        if (fd !== undefined) closeQuietly(fd);
        throw fsError(out, 'write', e);
      }
      await writePause();
    }
    for (const [tmp, out] of temps) {
      place(tmp, out, overwrite);
      track(out);
      placed.push(out);
      settle(tmp);
    }
    for (const out of placed) settle(out);
  } catch (e) {
    for (const [tmp] of temps) removeQuietly(tmp);
    for (const out of placed) removeQuietly(out);
    throw e;
  }
}

const writeFd = promisify(writeFile) as (fd: number, data: Uint8Array) => Promise<void>;

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // the write's own error is the one reported
  }
}

/** The UNET_WRITE_PAUSE_MS hook of writeOutputSet. */
function writePause(): Promise<void> | undefined {
  const ms = Number(process.env.UNET_WRITE_PAUSE_MS);
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : undefined;
}

function place(tmp: string, out: string, overwrite: boolean): void {
  try {
    if (overwrite) renameSync(tmp, out);
    else {
      try {
        linkSync(tmp, out);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // file systems without hard links: check, then rename (no longer race-free, still no clobbering)
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
        if (statOrUndefined(out)) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
        renameSync(tmp, out);
        return;
      }
      unlinkSync(tmp);
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${printable(out)}: already exists (pass --overwrite to replace it)`);
    throw fsError(out, 'write', e);
  }
}
