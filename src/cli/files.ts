// File helpers shared by `unet convert` and `unet segment`: reads whose errors name the file, and
// atomic writes (a temporary file next to the target, renamed over it), so an interrupted or failed
// run never leaves a half-written output behind.
import { accessSync, closeSync, constants, fstatSync, mkdirSync, openSync, readSync, renameSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DEFAULT_LIMITS, MAX_CONFIG_BYTES, exceeds, formatBytes, printable, type Limits } from '../limits.js';
import { CliError, fsError } from './errors.js';
import { removeQuietly, settle, track } from './pending.js';

export function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** What a file that is not a regular one is, for messages. */
function kindOf(s: Stats): string {
  if (s.isDirectory()) return 'is a directory';
  if (s.isFIFO()) return 'is a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'is a character device';
  if (s.isBlockDevice()) return 'is a block device';
  if (s.isSocket()) return 'is a socket';
  return 'is not a regular file';
}

/**
 * Reads a regular file of at most `limits[limit]` bytes. Anything else is refused before a byte is read:
 * a FIFO would block forever, /dev/zero never ends. The file is checked with stat before it is opened
 * (opening some devices does things) and again, with fstat, once it is (it may have been swapped); a
 * FIFO swapped in opens without blocking (O_NONBLOCK) and is then refused. Errors name the file.
 */
export function readInputFile(path: string, limit: 'maxInputBytes' | 'maxWeightsBytes' = 'maxInputBytes', limits: Limits = DEFAULT_LIMITS): Uint8Array {
  const name = printable(path);
  const check = (s: Stats) => {
    if (!s.isFile()) throw new CliError(`${name}: ${kindOf(s)}, expected a regular file`);
    if (s.size > limits[limit]) throw new CliError(`${name}: ${exceeds(`a file of ${formatBytes(s.size)}`, limit, limits).message}`);
  };
  let fd: number;
  try {
    check(statSync(path));
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw e instanceof CliError ? e : fsError(path, 'read', e);
  }
  try {
    const s = fstatSync(fd);
    check(s);
    // at most the size stat gave: a file growing while it is read is cut there, never read without end
    const out = new Uint8Array(s.size);
    let n = 0;
    while (n < out.length) {
      const got = readSync(fd, out, n, out.length - n, null);
      if (got === 0) break;
      n += got;
    }
    return n === out.length ? out : out.subarray(0, n);
  } catch (e) {
    throw e instanceof CliError ? e : fsError(path, 'read', e);
  } finally {
    closeSync(fd);
  }
}

let counter = 0;

/** `.NAME.tmp-PID-N` next to `out`: hidden, and unique within this process. */
export function tempName(out: string): string {
  return join(dirname(out), `.${basename(out)}.tmp-${process.pid}-${counter++}`);
}

/** Writes `.NAME.tmp-PID-N` next to `out`, then renames it over `out`; on failure or a signal (src/cli/pending.ts)
 *  the temporary file is removed. */
export function writeAtomically(out: string, bytes: Uint8Array): void {
  const tmp = tempName(out);
  track(tmp);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, out);
    settle(tmp);
  } catch (e) {
    removeQuietly(tmp);
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
  const name = printable(out);
  if (!d) throw new CliError(`${name}: the output directory ${printable(JSON.stringify(dir))} does not exist`);
  if (!d.isDirectory()) throw new CliError(`${name}: ${printable(JSON.stringify(dir))} is not a directory`);
  if (statOrUndefined(out)?.isDirectory()) throw new CliError(`${name}: is a directory, expected a file path for the output`);
}

/**
 * Creates `dir` and its missing parents (mkdir -p), then checks it can be written to. One directory at a
 * time, so an error names the directory that failed and its own errno: Node's recursive mkdir reports
 * ENOENT for a parent it could not create on a read-only file system, not EROFS. Checked before any work,
 * so a read-only --out-dir is one error, not one per input.
 */
export function makeOutputDir(dir: string, option: string): void {
  const missing: string[] = [];
  for (let d = dir; !statOrUndefined(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(d, 'create the directory', e);
    }
  }
  if (!statOrUndefined(dir)?.isDirectory()) throw new CliError(`${printable(dir)}: ${option} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw fsError(dir, `write to ${option}`, e);
  }
}

/**
 * The model behind a --weights argument: a safetensors file, or a folder as smp's save_pretrained writes
 * it (config.json + model.safetensors), read with the same checks as any input file.
 */
export function readModelArg(path: string, limits: Limits = DEFAULT_LIMITS): { weights: Uint8Array; config?: string; name: string; configName?: string } {
  const s = statOrUndefined(path);
  if (s?.isDirectory()) {
    const configPath = join(path, 'config.json');
    const weightsPath = join(path, 'model.safetensors');
    if (!statOrUndefined(weightsPath))
      throw new CliError(`${printable(path)}: a model folder holds model.safetensors (and config.json), this one has no model.safetensors`);
    // a config is small (smp's: under 1 KB): a larger one is refused from its size, before it is read
    const configSize = statOrUndefined(configPath);
    if (configSize?.isFile() && configSize.size > MAX_CONFIG_BYTES)
      throw new CliError(
        `${printable(configPath)}: a file of ${formatBytes(configSize.size)} is larger than the ${MAX_CONFIG_BYTES} bytes a model config may have`,
      );
    const config = configSize ? new TextDecoder().decode(readInputFile(configPath, 'maxInputBytes', limits)) : undefined;
    return { weights: readInputFile(weightsPath, 'maxWeightsBytes', limits), config, name: printable(weightsPath), configName: printable(configPath) };
  }
  return { weights: readInputFile(path, 'maxWeightsBytes', limits), name: printable(path) };
}
