// File helpers shared by `unet convert` and `unet segment`: reads whose errors name the file, and
// atomic writes (a temporary file next to the target, renamed over it), so an interrupted or failed
// run never leaves a half-written output behind.
import { readFileSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError, fsError } from './errors.js';

export function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

export function readInputFile(path: string): Uint8Array {
  if (statOrUndefined(path)?.isDirectory()) throw new CliError(`${path}: is a directory, expected a file`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw fsError(path, 'read', e);
  }
}

let counter = 0;

/** Writes `.NAME.tmp-PID-N` next to `out`, then renames it over `out`; on failure removes the temporary file. */
export function writeAtomically(out: string, bytes: Uint8Array): void {
  const tmp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${counter++}`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, out);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // never created, or already gone
    }
    throw fsError(out, 'write', e);
  }
}

/** True when `a` and `b` are the same file (same inode), or the same path for files not there yet. */
export function sameFile(a: string, b: string): boolean {
  const sa = statOrUndefined(a);
  const sb = statOrUndefined(b);
  return sa && sb ? sa.dev === sb.dev && sa.ino === sb.ino : resolve(a) === resolve(b);
}

/** The directory `out` goes into must exist, and `out` must not be a directory. */
export function checkOutputPath(out: string): void {
  const dir = dirname(out);
  const d = statOrUndefined(dir);
  if (!d) throw new CliError(`${out}: the output directory ${JSON.stringify(dir)} does not exist`);
  if (!d.isDirectory()) throw new CliError(`${out}: ${JSON.stringify(dir)} is not a directory`);
  if (statOrUndefined(out)?.isDirectory()) throw new CliError(`${out}: is a directory, expected a file path for the output`);
}
