// Model files picked or dropped on the page -> what loadModel takes: smp's save_pretrained folder
// (config.json + model.safetensors), a bare safetensors state_dict, or a PyTorch checkpoint (.pt / .pth,
// converted in the page by the allow-list reader `unet convert` uses: nothing in it is executed).
// Every problem is a ModelFileError whose message starts with the file it is about, in plain words.
// No DOM and no GPU: runs in the worker, and in Node for the tests.
import { CheckpointError, convertCheckpoint } from '../src/weights/checkpoint.js';

/** A file as the page hands it over: its name, its path inside a picked or dropped folder, its bytes. */
export interface ModelFile {
  name: string;
  /** 'runs/unet/config.json' for a file of a folder, else the name */
  path: string;
  bytes(): Promise<Uint8Array>;
}

export interface ModelFiles {
  weights: Uint8Array;
  /** config.json's text, when one came with the weights */
  config?: string;
  /** the config file's name, for messages about its values ('config.json') */
  configName?: string;
  /** the weights file's name, for messages: 'model.safetensors', or 'runs/unet/' for a folder */
  name: string;
  /** how the files were read, one line each ('converted from a PyTorch checkpoint (zip format), ...') */
  notes: string[];
}

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

/** File names that are model files (the rest of a drop is images, or refused). */
export const MODEL_FILE = /\.(safetensors|pt|pth|bin|ckpt|json)$/i;
const CHECKPOINT_FILE = /\.(pt|pth|ckpt)$/i;

/** What the bytes are: safetensors starts with a u64 header length and then '{'; torch.save writes a zip
 *  (PK\3\4) or, in its legacy format, a pickle (protocol opcode 0x80). */
export function weightsKind(b: Uint8Array): 'safetensors' | 'checkpoint' | undefined {
  if (b.length >= 9 && b[8] === 0x7b && b[6] === 0 && b[7] === 0) return 'safetensors';
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04) return 'checkpoint';
  if (b.length >= 2 && b[0] === 0x80 && b[1] >= 2 && b[1] <= 5) return 'checkpoint';
  return undefined;
}

/** The one weights file among `files` (model.safetensors first), and config.json if there is one. */
function pick(files: readonly ModelFile[]): { weights?: ModelFile; config?: ModelFile; ignored: ModelFile[] } {
  const config = files.find((f) => f.name === 'config.json');
  const rest = files.filter((f) => f !== config);
  const rank = (f: ModelFile) => (f.name === 'model.safetensors' ? 0 : /\.safetensors$/i.test(f.name) ? 1 : CHECKPOINT_FILE.test(f.name) ? 2 : 3);
  const weights = [...rest].sort((a, b) => rank(a) - rank(b))[0];
  return { weights, config, ignored: rest.filter((f) => f !== weights) };
}

function folderOf(f: ModelFile): string {
  const i = f.path.lastIndexOf('/');
  return i > 0 ? f.path.slice(0, i + 1) : '';
}

/** Reads the model among `files`; throws ModelFileError naming the file and the problem. */
export async function readModelFiles(files: readonly ModelFile[]): Promise<ModelFiles> {
  const { weights, config, ignored } = pick(files);
  if (!weights) {
    const what = config ? 'config.json' : 'the files';
    throw new ModelFileError(
      `${what}: a model config without its weights — pick the whole save_pretrained folder (config.json and model.safetensors), or drop both files together`,
    );
  }
  const bytes = await weights.bytes();
  const name = config && folderOf(config) ? folderOf(config) : weights.name;
  const notes: string[] = [];
  if (config) notes.push(`read ${config.name} and ${weights.name}${folderOf(config) ? ` from ${folderOf(config)}` : ''}`);
  if (ignored.length) notes.push(`ignored ${ignored.map((f) => f.name).join(', ')} (one model at a time: ${weights.name} was used)`);
  if (bytes.length === 0) throw new ModelFileError(`${weights.name}: empty file (0 bytes)`);
  const kind = weightsKind(bytes);
  let out = bytes;
  if (kind === 'checkpoint' || (kind === undefined && CHECKPOINT_FILE.test(weights.name))) {
    try {
      const c = convertCheckpoint(bytes, weights.name, { format: 'pt', source: weights.name, converted_by: 'webgpu-unet demo page' });
      out = c.file;
      notes.push(`converted from a PyTorch checkpoint (${c.format} format, ${c.tensors.length} tensors) in this page: nothing in it was executed`, ...c.notes);
    } catch (e) {
      if (e instanceof CheckpointError) throw new ModelFileError(e.message);
      throw e;
    }
  } else if (kind === undefined) {
    throw new ModelFileError(`${weights.name}: not a safetensors file — to use a PyTorch .pt/.pth, convert it with \`unet convert\` or drop the .pt here`);
  }
  return { weights: out, ...(config ? { config: new TextDecoder().decode(await config.bytes()), configName: config.name } : {}), name, notes };
}
