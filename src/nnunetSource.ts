// An nnU-Net results folder (or its exported zip) as a model source: every requested fold's checkpoint read
// with the safe unpickler, its network_weights put under `fold_K.` in one safetensors file, and the
// config the nnunet architecture plug-in reads (plans.json, dataset.json, the configuration the
// checkpoints were trained as, the trainer and the mirroring axes). `unet convert` writes the same pair to
// disk, so a converted model loads as the folder does. Browser-safe: the listing comes from the caller
// (Node: src/nnunetFiles.ts; the page: dropped files or a zip).
import { type NnunetFiles, type ReadNnunetOptions, readNnunetModel } from './arch/nnunet/folder.js';
import type { NnunetModelConfig } from './arch/nnunet/index.js';
import { type CheckpointTensor, encodeSafetensors, extractStateDict, readCheckpoint } from './weights/checkpoint.js';
import type { Limits } from './limits.js';
import { PyDict, toPlain } from './weights/pickle.js';

export interface NnunetSource {
  weights: Uint8Array;
  config: { nnunet: NnunetModelConfig };
  /** the folder or zip, for messages */
  name: string;
  /** one line per fold read, and what the conversion changed */
  notes: string[];
}

const foldName = (f: number | 'all') => `fold_${f}`;

export async function nnunetModelSource(files: NnunetFiles, options: ReadNnunetOptions = {}): Promise<NnunetSource> {
  const model = await readNnunetModel(files, options);
  const tensors: CheckpointTensor[] = [];
  const notes: string[] = [];
  for (const f of model.folds) {
    const sd = extractStateDict(f.checkpoint, f.path, 'network_weights');
    for (const t of sd.tensors) tensors.push({ ...t, name: `${foldName(f.fold)}.${t.name}` });
    notes.push(`${f.path}: ${sd.tensors.length} tensors`);
  }
  const nnunet: NnunetModelConfig = {
    plans: model.config.plansFile,
    dataset: model.config.dataset,
    configuration: model.config.configuration,
    trainerName: model.trainerName,
    mirroringAxes: model.mirroringAxes,
    folds: model.folds.map((f) => foldName(f.fold)),
  };
  // which folds and checkpoint file the weights are: `unet infer` copies them into its output's metadata
  const weights = encodeSafetensors(tensors, {
    format: 'pt',
    source: files.source,
    nnunet_configuration: nnunet.configuration,
    nnunet_folds: model.folds.map((f) => f.fold).join(','),
    nnunet_checkpoint: options.checkpoint ?? 'checkpoint_final.pth',
  });
  return { weights, config: { nnunet }, name: files.source, notes };
}

/**
 * A lone nnU-Net checkpoint (checkpoint_final.pth) as a one-fold results folder, so nnunetModelSource reads
 * it as it reads a folder: its init_args hold the plans, dataset.json and the fold it was trained as
 * (nnUNetTrainer.__init__'s arguments). Listed as `plans.json`, `dataset.json` and `fold_K/NAME`, with
 * `path` as the source, so messages read `path/plans.json: ...`. Undefined for a checkpoint that is not
 * nnU-Net's (no network_weights) or whose init_args lack the plans or dataset.json: it is a plain state_dict.
 */
export function nnunetCheckpointFiles(bytes: Uint8Array, path: string, name: string, limits?: Partial<Limits>): NnunetFiles | undefined {
  const ckpt = readCheckpoint(bytes, path, { limits });
  const root = ckpt.root;
  if (!(root instanceof PyDict) || !root.map.has('network_weights') || !(root.map.get('init_args') instanceof PyDict)) return undefined;
  const init = toPlain(root.map.get('init_args') ?? null, {
    what: `${path}: init_args`,
    maxValues: ckpt.limits.maxPickleItems,
    maxDepth: ckpt.limits.maxPickleDepth,
  });
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(init) || !isObject(init.plans) || !isObject(init.dataset_json)) return undefined;
  const fold = init.fold === 'all' || (Number.isSafeInteger(init.fold) && (init.fold as number) >= 0) ? (init.fold as number | 'all') : 0;
  const text = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const entries = new Map<string, Uint8Array>([
    ['plans.json', text(init.plans)],
    ['dataset.json', text(init.dataset_json)],
    [`fold_${fold}/${name}`, bytes],
  ]);
  return {
    source: path,
    paths: [...entries.keys()],
    read: async (p) => entries.get(p) ?? new Uint8Array(),
  };
}
