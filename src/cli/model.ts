// The model behind --weights, for every command that takes one: a safetensors file, an smp save_pretrained
// folder or an nnU-Net results folder / zip, read with the input-file checks, or an http(s) URL, downloaded as loadModel
// downloads one (the limits' size and time bounds); loaded with --activation, with load errors and
// warnings naming the file.
import { join } from 'node:path';
import { OUTPUT_ACTIVATIONS, type OutputActivation } from '../arch/types.js';
import { type DownloadProgress, isUrl } from '../io/fetch.js';
import { DEFAULT_LIMITS, formatBytes, printable, type Limits } from '../limits.js';
import { readModelSource } from '../load.js';
import { loadModel, type LoadOptions, type Model } from '../node.js';
import { CliError, UsageError, cliText } from './errors.js';
import { readModelArg, statOrUndefined } from './files.js';
import { type NnunetChoice, configDims, isNnunetPath, readNnunetArg } from './nnunet.js';

/** Help lines for --weights and --activation, continued at the column where a command's option texts start. */
const CONTINUED = `\n${' '.repeat(24)}`;
export const weightsHelp = (column = 24) =>
  [
    'a safetensors state_dict (brain-segmentation-pytorch or smp Unet keys),',
    'or an smp save_pretrained folder (config.json + model.safetensors),',
    'as a path or an http(s) URL (a URL ending in / names such a folder);',
    'or the path of an nnU-Net results folder (a trainer folder, its Dataset',
    'folder, or the .zip nnUNetv2_export_model_to_zip writes)',
  ].join(`\n${' '.repeat(column)}`);
export const ACTIVATION_HELP = [
  `${OUTPUT_ACTIVATIONS.join(', ')}: replaces the model's`,
  "output activation (default: config.json's; sigmoid for the brain U-Net,",
  'identity, i.e. logits, for an smp state_dict without config.json)',
].join(CONTINUED);

/** --activation: one of OUTPUT_ACTIVATIONS, or undefined (the model's own). */
export function parseActivation(command: string, value: string | undefined): OutputActivation | undefined {
  if (value === undefined) return undefined;
  if (!(OUTPUT_ACTIVATIONS as readonly string[]).includes(value)) {
    throw new UsageError(
      `${command}: --activation must be ${OUTPUT_ACTIVATIONS.slice(0, -1).join(', ')} or ${OUTPUT_ACTIVATIONS.at(-1)}, found ${JSON.stringify(value)}`,
    );
  }
  return value as OutputActivation;
}

/** The files a --weights argument reads (a folder's model.safetensors and config.json; none for a URL):
 *  outputs never go there. */
export function modelFiles(path: string): string[] {
  if (isWeightsUrl(path)) return [];
  return statOrUndefined(path)?.isDirectory() ? [join(path, 'model.safetensors'), join(path, 'config.json')] : [path];
}

/** A --weights argument, read: the safetensors bytes, the config's text if any, and names for messages. */
export interface ModelArg {
  weights: Uint8Array;
  config?: string;
  name: string;
  configName?: string;
  /** the input's spatial axes when the config says (a 3D nnU-Net model: [N, C, D, H, W]); else decided at load */
  dims?: 2 | 3;
  /** an nnU-Net results folder or zip (read through src/nnunetSource.ts): one line per fold read */
  nnunetNotes?: string[];
}

/** A --weights argument that is a URL (http: or https:), not a path. */
export function isWeightsUrl(arg: string): boolean {
  return isUrl(arg, true);
}

/**
 * The model behind a --weights argument: a file or folder (readModelArg), or an http(s) URL downloaded
 * by the library's loader, so with the same limits: maxWeightsBytes, headersTimeoutMs, idleTimeoutMs.
 * A download draws its progress on stderr when that is a terminal.
 */
export async function readWeightsArg(
  arg: string,
  limits: Limits = DEFAULT_LIMITS,
  stream: NodeJS.WriteStream = process.stderr,
  nnunet?: NnunetChoice,
  command = 'infer',
): Promise<ModelArg> {
  if (!isWeightsUrl(arg) && isNnunetPath(arg)) {
    const m = await readNnunetArg(arg, limits, nnunet);
    return { weights: m.weights, config: m.config, name: m.name, configName: m.configName, dims: m.dims, nnunetNotes: m.notes };
  }
  if (nnunet !== undefined) {
    throw new UsageError(
      `${command}: --folds, --checkpoint and --configuration choose from an nnU-Net results folder or its .zip; ${printable(arg)} is not one (a converted folder holds the folds it was converted with)`,
    );
  }
  if (!isWeightsUrl(arg)) {
    const m = readModelArg(arg, limits);
    return { ...m, dims: configDims(m.config, m.configName ?? m.name) };
  }
  const progress = downloadProgress(printable(arg), stream);
  try {
    const { bytes, config, source, configSource } = await readModelSource(arg, limits, { onProgress: (p) => progress.update(p) });
    const text = config && JSON.stringify(config);
    return {
      weights: bytes,
      config: text,
      name: printable(source),
      configName: configSource && printable(configSource),
      dims: configDims(text, printable(source)),
    };
  } finally {
    progress.clear();
  }
}

/** Redraws at most this often: a fast download reports every 16-64 KiB. */
const REDRAW_MS = 100;

/**
 * `unet: downloading URL: 1.5 MiB of 45 MiB`, redrawn in place on a terminal (as segment's progress bar
 * is) and cleared when done; nothing where stderr is a pipe or a file, so logs get no control characters.
 */
export function downloadProgress(
  name: string,
  stream: NodeJS.WriteStream,
  enabled = Boolean(stream.isTTY),
): { update(p: DownloadProgress): void; clear(): void } {
  let drawnAt: number | undefined;
  return {
    update(p) {
      const now = performance.now();
      if (!enabled || (drawnAt !== undefined && now - drawnAt < REDRAW_MS && p.loaded !== p.total)) return;
      const line = `unet: downloading ${name}: ${formatBytes(p.loaded)}${p.total !== undefined ? ` of ${formatBytes(p.total)}` : ''}`;
      stream.write(`\r\x1b[K${line.slice(0, (stream.columns || 100) - 1)}`);
      drawnAt = now;
    },
    clear() {
      if (drawnAt !== undefined) stream.write('\r\x1b[K');
      drawnAt = undefined;
    },
  };
}

/** Loads a model read by readModelArg; a refusal is one CliError starting with the file's name, warnings go to `warn`. */
export async function openModel(device: GPUDevice, arg: ModelArg, options: LoadOptions, warn: (line: string) => void): Promise<Model> {
  const prefix = (m: string) => (m.startsWith(`${arg.name}: `) ? m : `${arg.name}: ${m.replace(/^<bytes>: /, '')}`);
  const model = await loadModel(device, arg, options).catch((e: Error) => {
    throw new CliError(prefix(e.message));
  });
  for (const w of model.info.warnings) warn(`unet: warning: ${cliText(prefix(w))}`);
  return model;
}
