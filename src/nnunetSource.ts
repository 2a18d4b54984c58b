// An nnU-Net results folder (or its exported zip) as a model source: every requested fold's checkpoint read
// with the safe unpickler, its network_weights put under `fold_K.` in one safetensors file, and the
// config the nnunet architecture plug-in reads (plans.json, dataset.json, the configuration the
// checkpoints were trained as, the trainer and the mirroring axes). `unet convert` writes the same pair to
// disk, so a converted model loads as the folder does. Browser-safe: the listing comes from the caller
// (Node: src/nnunetFiles.ts; the page: dropped files or a zip).
import { type NnunetFiles, type ReadNnunetOptions, readNnunetModel } from './arch/nnunet/folder.js';
import type { NnunetModelConfig } from './arch/nnunet/index.js';
import { type CheckpointTensor, encodeSafetensors, extractStateDict } from './weights/checkpoint.js';

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
  const weights = encodeSafetensors(tensors, { format: 'pt', source: files.source, nnunet_configuration: nnunet.configuration });
  return { weights, config: { nnunet }, name: files.source, notes };
}
