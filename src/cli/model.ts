// The model behind --weights, for every command that takes one: a safetensors file or an smp
// save_pretrained folder, read with the input-file checks, loaded with --activation, with load errors
// and warnings naming the file.
import { join } from 'node:path';
import { OUTPUT_ACTIVATIONS, type OutputActivation } from '../arch/types.js';
import { loadModel, type LoadOptions, type Model } from '../node.js';
import { CliError, UsageError, cliText } from './errors.js';
import { readModelArg, statOrUndefined } from './files.js';

/** Help lines for --weights and --activation, continued at the column where a command's option texts start. */
const CONTINUED = `\n${' '.repeat(24)}`;
export const weightsHelp = (column = 24) =>
  ['a safetensors state_dict (brain-segmentation-pytorch or smp Unet keys),', 'or an smp save_pretrained folder (config.json + model.safetensors)'].join(`\n${' '.repeat(column)}`);
export const ACTIVATION_HELP = [
  `${OUTPUT_ACTIVATIONS.join(', ')}: replaces the model's`,
  "output activation (default: config.json's; sigmoid for the brain U-Net,",
  'identity, i.e. logits, for an smp state_dict without config.json)',
].join(CONTINUED);

/** --activation: one of OUTPUT_ACTIVATIONS, or undefined (the model's own). */
export function parseActivation(command: string, value: string | undefined): OutputActivation | undefined {
  if (value === undefined) return undefined;
  if (!(OUTPUT_ACTIVATIONS as readonly string[]).includes(value)) {
    throw new UsageError(`${command}: --activation must be ${OUTPUT_ACTIVATIONS.slice(0, -1).join(', ')} or ${OUTPUT_ACTIVATIONS.at(-1)}, found ${JSON.stringify(value)}`);
  }
  return value as OutputActivation;
}

/** The files a --weights argument reads (a folder's model.safetensors and config.json): outputs never go there. */
export function modelFiles(path: string): string[] {
  return statOrUndefined(path)?.isDirectory() ? [join(path, 'model.safetensors'), join(path, 'config.json')] : [path];
}

export type ModelArg = ReturnType<typeof readModelArg>;

/** Loads a model read by readModelArg; a refusal is one CliError starting with the file's name, warnings go to `warn`. */
export async function openModel(device: GPUDevice, arg: ModelArg, options: LoadOptions, warn: (line: string) => void): Promise<Model> {
  const prefix = (m: string) => (m.startsWith(`${arg.name}: `) ? m : `${arg.name}: ${m.replace(/^<bytes>: /, '')}`);
  const model = await loadModel(device, arg, options).catch((e: Error) => {
    throw new CliError(prefix(e.message));
  });
  for (const w of model.info.warnings) warn(`unet: warning: ${cliText(prefix(w))}`);
  return model;
}
