// `unet info --weights`: what a model is (model.info, from src/arch), its cost at 256 x 256 and where its
// settings came from, as one plain object for --json and as aligned text.
import { isMultiClass } from '../io/classes.js';
import { describeNormalization } from '../io/preprocess.js';
import type { Model, ModelInfo } from '../node.js';
import { WEIGHTS_LABEL, describeSizes, describeWeightBytes, inputLayout } from '../infoText.js';
import { type NnunetFacts, nnunetFacts } from './nnunet.js';

/** GFLOP are counted on a forward of this size (1 x inChannels x 256 x 256); a 3D model's on 64^3, each
 *  side rounded up to its size multiple (a 3D network refuses other sizes). */
const FLOP_SIZE = 256;
const FLOP_SIZE_3D = 64;

type Described =
  | 'source'
  | 'architecture'
  | 'encoder'
  | 'depth'
  | 'decoderChannels'
  | 'attention'
  | 'upsampling'
  | 'inChannels'
  | 'classes'
  | 'activation'
  | 'preprocessing'
  | 'parameters'
  | 'buffers'
  | 'weightBytes'
  | 'precision'
  | 'sizeMultiple'
  | 'dims'
  | 'sizeMultiples'
  | 'title'
  | 'features'
  | 'inferred'
  | 'unused'
  | 'warnings';

export type ModelDescription = Pick<ModelInfo, Described> & {
  /** true when segment reads the output as one class per pixel (src/io/classes.ts) */
  multiClass: boolean;
  /** GFLOP of one forward of [1, inChannels, 256, 256], or null when it cannot be compiled here (see gflopError) */
  gflop: number | null;
  gflopError?: string;
  flopShape: number[];
  /** whether a config.json was read for the settings not in `inferred` */
  config: boolean;
  /** an nnU-Net model: its plans' facts (configuration, folds, patch size, ...) */
  nnunet?: NnunetFacts;
};

/** What info.weightBytes is called wherever it is shown (`unet info`, the web page's model panel). */
/** `config`: whether a config.json came with the weights; `settings`: that config's text, with its name
 *  (an nnU-Net model's facts are read from it). */
export function describeModel(model: Model, config: boolean, settings?: { text?: string; name: string }): ModelDescription {
  const i = model.info;
  const flopShape =
    i.dims === 3 ? [1, i.inChannels, ...(i.sizeMultiples ?? [1, 1, 1]).map((m) => Math.ceil(FLOP_SIZE_3D / m) * m)] : [1, i.inChannels, FLOP_SIZE, FLOP_SIZE];
  const nnunet = settings ? nnunetFacts(settings.text, settings.name, i.metadata) : undefined;
  let gflop: number | null = null;
  let gflopError: string | undefined;
  try {
    gflop = model.plan(flopShape).steps.reduce((s, st) => s + st.flops, 0) / 1e9;
  } catch (e) {
    gflopError = (e as Error).message.split('\n')[0];
  }
  return {
    source: i.source,
    title: i.title,
    architecture: i.architecture,
    encoder: i.encoder,
    depth: i.depth,
    decoderChannels: i.decoderChannels,
    attention: i.attention,
    upsampling: i.upsampling,
    inChannels: i.inChannels,
    classes: i.classes,
    activation: i.activation,
    multiClass: isMultiClass(i),
    preprocessing: i.preprocessing,
    parameters: i.parameters,
    buffers: i.buffers,
    weightBytes: i.weightBytes,
    precision: i.precision,
    gflop,
    ...(gflopError !== undefined ? { gflopError } : {}),
    flopShape,
    sizeMultiple: i.sizeMultiple,
    dims: i.dims ?? 2,
    ...(i.sizeMultiples !== undefined ? { sizeMultiples: i.sizeMultiples } : {}),
    ...(i.features !== undefined ? { features: i.features } : {}),
    inferred: i.inferred,
    unused: i.unused,
    config,
    warnings: i.warnings,
    ...(nnunet ? { nnunet } : {}),
  };
}

export function formatModel(m: ModelDescription): string {
  const rows: [string, string][] = [
    ['model', m.source],
    ['name', m.title],
    ['architecture', m.architecture],
    ['encoder', m.encoder],
    ['depth', String(m.depth)],
    ['decoder channels', m.decoderChannels.join(', ')],
    ['attention', m.attention ?? 'none'],
    ['upsampling', m.upsampling],
    ['in_channels', String(m.inChannels)],
    ['classes', `${m.classes}${m.multiClass ? ' (exclusive: one class per pixel)' : m.classes > 1 ? ' (independent masks)' : ''}`],
    ['activation', m.activation],
    ['preprocessing', describeNormalization(m.preprocessing)],
    ['parameters', m.parameters.toLocaleString('en-US')],
    ['buffers', `${m.buffers.toLocaleString('en-US')} (BatchNorm running statistics: not parameters, as in PyTorch)`],
    [WEIGHTS_LABEL, describeWeightBytes(m)],
    ['GFLOP', m.gflop !== null ? `${m.gflop.toFixed(2)} at ${m.flopShape.join('x')}` : `not counted (${m.gflopError})`],
    ['input', `${inputLayout(m)} (${m.dims === 3 ? '3D' : '2D'})`],
    ['size multiple', describeSizes(m)],
  ];
  if (m.features !== undefined) rows.push(['init_features', String(m.features)]);
  if (m.nnunet) rows.push(...nnunetRows(m.nnunet));
  rows.push(['inferred', inferredText(m)]);
  if (m.unused.length) rows.push(['unused tensors', m.unused.join('; ')]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return `${rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n')}\n`;
}

function inferredText(m: ModelDescription): string {
  const list = m.inferred.join(', ');
  // an nnU-Net results folder has no config.json: its settings are its plans.json and dataset.json
  if (m.nnunet) return m.inferred.length ? `${list} (from the tensors); the rest from the plans` : 'nothing: all from plans.json and dataset.json';
  if (!m.config) return m.inferred.length ? `${list} (from the tensors; no config.json)` : 'nothing';
  return m.inferred.length ? `${list} (from the tensors); the rest from config.json` : 'nothing: all from config.json';
}

/** An nnU-Net model's plans facts as info rows. */
function nnunetRows(n: NnunetFacts): [string, string][] {
  const sizes = (v: number[]) => v.join(' x ');
  const rows: [string, string][] = [
    ['configuration', `${n.configuration}${n.previousStage ? ` (cascade stage after ${n.previousStage})` : ''}`],
    ['trainer', [n.trainer, n.plans].filter(Boolean).join(', plans ') || 'unknown'],
  ];
  if (n.dataset) rows.push(['dataset', n.dataset]);
  rows.push(
    ['folds', `${n.folds.join(', ')} (${n.folds.length > 1 ? 'their logits averaged' : 'one network'})${n.checkpoint ? `, from ${n.checkpoint}` : ''}`],
    ['stages', `${n.featuresPerStage.length}: features ${n.featuresPerStage.join(', ')}`],
    ['strides', n.strides.map(sizes).join(', ')],
    ['kernel sizes', n.kernelSizes.map(sizes).join(', ')],
    ['patch size', sizes(n.patchSize)],
    ['spacing', sizes(n.spacing)],
    ['channels', `${n.channelNames.join(', ')} (normalization ${n.normalization.join(', ')})`],
    ['labels', `${n.labels.join(', ')} (nnU-Net applies ${n.outputActivation} to the logits, after resampling)`],
    ['mirroring axes', n.mirroringAxes === null ? 'none' : n.mirroringAxes.join(', ')],
  );
  return rows;
}
