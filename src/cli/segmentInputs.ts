// `unet segment`'s files by name: the inputs a command line stands for (folders expanded, each output
// stem used once, earlier outputs in --out-dir not taken for inputs), the names of an input's outputs,
// and the check that none of them replaces an input, the weights or (without --overwrite) any file.
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { printable } from '../limits.js';
import { sameFile, statOrUndefined } from './files.js';
import type { Settings } from './segmentArgs.js';

const INPUT_EXT = /\.(png|jpe?g|nii|nii\.gz)$/i;

export interface Input {
  path: string;
  /** output file stem */
  name: string;
}

/** Output names look like `${stem}${OUTPUT_SUFFIX}.ext`. */
const OUTPUT_SUFFIX = /_(mask|probs)(_c\d+)?$|_overlay$|_labels$/;
const stemOf = (path: string) =>
  basename(path)
    .replace(/\.nii\.gz$/i, '')
    .replace(/\.[^.]*$/, '');

/**
 * Files as given, folders as their image / volume files (sorted); each output stem used once. In a
 * folder that is also the output folder, a file named like the outputs of another input there
 * (`cell_mask.png` beside `cell.png`) is skipped: it is a mask of an earlier run, not an image to segment.
 * Hidden files in a folder (names starting with '.') are skipped and listed in `hidden`; named as
 * arguments, they are inputs like any other.
 */
export function expandInputs(
  args: string[],
  outDir: string,
): { inputs: Input[]; failures: { input: string; error: string }[]; skipped: string[]; hidden: string[] } {
  const inputs: Input[] = [];
  const failures: { input: string; error: string }[] = [];
  const skipped: string[] = [];
  const hidden: string[] = [];
  const stems = new Map<string, string>();
  const add = (path: string) => {
    const name = stemOf(path);
    const other = stems.get(name);
    if (other !== undefined)
      failures.push({ input: path, error: `skipped: its outputs (${printable(name)}_mask...) would overwrite those of ${printable(other)}` });
    else {
      stems.set(name, path);
      inputs.push({ path, name });
    }
  };
  for (const arg of args) {
    const s = statOrUndefined(arg);
    if (!s) failures.push({ input: arg, error: 'cannot read (ENOENT)' });
    else if (s.isDirectory()) {
      let names: string[];
      try {
        names = readdirSync(arg)
          .filter((n) => INPUT_EXT.test(n))
          .sort();
      } catch (e) {
        failures.push({ input: arg, error: `cannot read the folder (${(e as NodeJS.ErrnoException).code ?? e})` });
        continue;
      }
      // hidden files (macOS's ._NAME.png resource forks, editors' backups) are not inputs; they are counted
      const dot = names.filter((n) => n.startsWith('.'));
      hidden.push(...dot.map((n) => join(arg, n)));
      names = names.filter((n) => !n.startsWith('.'));
      if (names.length === 0) {
        const also = dot.length ? ` (${dot.length} hidden file${dot.length === 1 ? '' : 's'}, named .*, skipped)` : '';
        failures.push({ input: arg, error: `no .png, .jpg, .jpeg, .nii or .nii.gz files in this folder${also}` });
      }
      const isOutDir = sameFile(arg, outDir);
      const folderStems = new Set(names.map(stemOf));
      for (const n of names) {
        const stem = stemOf(n);
        const base = stem.replace(OUTPUT_SUFFIX, '');
        if (isOutDir && base !== stem && folderStems.has(base)) skipped.push(join(arg, n));
        else add(join(arg, n));
      }
    } else add(arg);
  }
  return { inputs, failures, skipped, hidden };
}

/** One output file of an input: its name, and what it holds (of channel or class `c`). */
export interface Output {
  file: string;
  holds: 'labels' | 'mask' | 'probs' | 'overlay';
  c: number;
}

/**
 * The files an input's outputs go to, in the order they are written: multi-class models NAME_labels,
 * NAME_overlay (images), with --probs NAME_probs_c<k>; mask models NAME_mask and with --probs NAME_probs
 * per channel (suffixed _c<k> when there are several), then NAME_overlay (images).
 */
export function outputSet(name: string, ext: string, C: number, s: Pick<Settings, 'probs' | 'multiClass'>, overlay: boolean): Output[] {
  const set: Output[] = [];
  const add = (holds: Output['holds'], suffix = '', c = 0) => set.push({ file: `${name}_${holds}${suffix}${ext}`, holds, c });
  if (s.multiClass) {
    add('labels');
    if (overlay) add('overlay');
    if (s.probs) for (let c = 0; c < C; c++) add('probs', `_c${c}`, c);
    return set;
  }
  for (let c = 0; c < C; c++) {
    const suffix = C > 1 ? `_c${c}` : '';
    add('mask', suffix, c);
    if (s.probs) add('probs', suffix, c);
  }
  if (overlay) add('overlay');
  return set;
}

/** Before any work: no output may replace an input or the weights, nor (without --overwrite) any file. */
export function checkOutputs(names: string[], s: Settings, fail: (problem: string) => never): void {
  for (const f of names) {
    const out = join(s.outDir, f);
    const input = s.protectedFiles.find((p) => sameFile(p, out));
    if (input !== undefined) fail(`its output ${printable(f)} would overwrite the input ${printable(input)}: choose another --out-dir`);
    const st = statOrUndefined(out);
    if (st?.isDirectory()) fail(`its output ${printable(out)} is a directory`);
    if (st && !s.overwrite) fail(`its output ${printable(out)} already exists (pass --overwrite to replace it)`);
  }
}

/** What happens to an image's alpha (src/io/image.ts drops it when decoding). */
export const ALPHA_NOTE = 'alpha channel ignored: colours read as stored, not composited over a background';

/** A PNG with an alpha channel (colour type 4 or 6) or transparency (a tRNS chunk before the image data). */
export function pngHasAlpha(png: Uint8Array): boolean {
  if (png.length < 33) return false;
  if (png[25] === 4 || png[25] === 6) return true;
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  for (let at = 8; at + 8 <= png.length; at += 12 + dv.getUint32(at)) {
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    if (type === 'tRNS') return true;
    if (type === 'IDAT' || type === 'IEND') return false;
  }
  return false;
}
