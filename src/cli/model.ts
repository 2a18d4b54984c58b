// The model behind --weights, for every command that takes one: a safetensors file or an smp
// save_pretrained folder, read with the input-file checks, or an http(s) URL, downloaded as loadModel
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

/** Help lines for --weights and --activation, continued at the column where a command's option texts start. */
const CONTINUED = `\n${' '.repeat(24)}`;
export const weightsHelp = (column = 24) =>
  [
    'a safetensors state_dict (brain-segmentation-pytorch or smp Unet keys),',
    'or an smp save_pretrained folder (config.json + model.safetensors),',
    'as a path or an http(s) URL (a URL ending in / names such a folder)',
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

export type ModelArg = ReturnType<typeof readModelArg>;

/** A --weights argument that is a URL (http: or https:), not a path. */
export function isWeightsUrl(arg: string): boolean {
  return isUrl(arg, true);
}

/**
 * The model behind a --weights argument: a file or folder (readModelArg), or an http(s) URL downloaded
 * by the library's loader, so with the same limits: maxWeightsBytes, headersTimeoutMs, idleTimeoutMs.
 * A download draws its progress on stderr when that is a terminal.
 */
export async function readWeightsArg(arg: string, limits: Limits = DEFAULT_LIMITS, stream: NodeJS.WriteStream = process.stderr): Promise<ModelArg> {
  if (!isWeightsUrl(arg)) return readModelArg(arg, limits);
  const progress = downloadProgress(printable(arg), stream);
  try {
    const { bytes, config, source, configSource } = await readModelSource(arg, limits, { onProgress: (p) => progress.update(p) });
    return { weights: bytes, config: config && JSON.stringify(config), name: printable(source), configName: configSource && printable(configSource) };
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
