// An nnU-Net results folder or exported zip on disk as the abstract listing src/arch/nnunet/folder.ts reads:
// a directory is walked (bounded in depth and entries, symbolic links not followed), a .zip is read into
// memory and its entries inflated one at a time when asked for. Node only.
import { readFile, readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { InputError } from './errors.js';
import { exceeds, formatBytes, resolveLimits, type Limits } from './limits.js';
import { type NnunetFiles, nnunetZipFiles } from './arch/nnunet/folder.js';

/** A results folder is Dataset/Trainer__Plans__config/fold_K/...: a few levels; an export zip's tree as well. */
const MAX_DEPTH = 8;
const MAX_ENTRIES = 100_000;

/** `path` (a trainer folder, its Dataset... parent, or an nnUNetv2_export_model_to_zip .zip) as NnunetFiles. */
export async function nnunetFiles(path: string, limits: Partial<Limits> = {}): Promise<NnunetFiles> {
  const lim = resolveLimits(limits);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (e) {
    throw new InputError(`${path}: no such file or folder`, { cause: e });
  }
  if (info.isFile()) {
    if (!/\.zip$/i.test(path)) throw new InputError(`${path}: expected an nnU-Net results folder or the .zip nnUNetv2_export_model_to_zip writes`);
    if (info.size > lim.maxDecompressedBytes) throw exceeds(`${path}: a zip of ${formatBytes(info.size)}`, 'maxDecompressedBytes', lim);
    return nnunetZipFiles(new Uint8Array(await readFile(path)), path, limits);
  }
  const paths: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > MAX_DEPTH) return;
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, e.name);
      if (e.isDirectory()) await walk(full, depth + 1);
      else if (e.isFile()) {
        if (paths.length >= MAX_ENTRIES) throw new InputError(`${path}: more than ${MAX_ENTRIES} files: not an nnU-Net results folder`);
        paths.push(relative(path, full).split(sep).join('/'));
      }
    }
  };
  await walk(path, 0);
  paths.sort();
  const listed = new Set(paths);
  return {
    source: path,
    paths,
    read: async (rel) => {
      if (!listed.has(rel)) throw new InputError(`${path}/${rel} is missing`);
      const full = join(path, ...rel.split('/'));
      const size = (await stat(full)).size;
      if (size > lim.maxWeightsBytes) throw exceeds(`${full}: a file of ${formatBytes(size)}`, 'maxWeightsBytes', lim);
      return new Uint8Array(await readFile(full));
    },
  };
}
