// `unet info --weights`: what a model is (model.info, from src/arch), its cost at 256 x 256 and where its
// settings came from, as one plain object for --json and as aligned text.
import { isMultiClass } from '../io/classes.js';
import { describeNormalization } from '../io/preprocess.js';
import type { Model, ModelInfo } from '../node.js';
import { WEIGHTS_LABEL, describeWeightBytes } from '../infoText.js';

/** GFLOP are counted on a forward of this size (1 x inChannels x 256 x 256). */
const FLOP_SIZE = 256;

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
};

/** What info.weightBytes is called wherever it is shown (`unet info`, the web page's model panel). */
/** `config`: whether a config.json came with the weights. */
export function describeModel(model: Model, config: boolean): ModelDescription {
  const i = model.info;
  const flopShape = [1, i.inChannels, FLOP_SIZE, FLOP_SIZE];
  let gflop: number | null = null;
  let gflopError: string | undefined;
  try {
    gflop = model.plan(flopShape).steps.reduce((s, st) => s + st.flops, 0) / 1e9;
  } catch (e) {
    gflopError = (e as Error).message.split('\n')[0];
  }
  return {
    source: i.source,
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
    ...(i.features !== undefined ? { features: i.features } : {}),
    inferred: i.inferred,
    unused: i.unused,
    config,
    warnings: i.warnings,
  };
}

export function formatModel(m: ModelDescription): string {
  const rows: [string, string][] = [
    ['model', m.source],
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
    ['size multiple', m.sizeMultiple === 1 ? '1 (any size)' : `${m.sizeMultiple} (other sizes are padded)`],
  ];
  if (m.features !== undefined) rows.push(['init_features', String(m.features)]);
  rows.push(['inferred', inferredText(m)]);
  if (m.unused.length) rows.push(['unused tensors', m.unused.join('; ')]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return `${rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join('\n')}\n`;
}

function inferredText(m: ModelDescription): string {
  const list = m.inferred.join(', ');
  if (!m.config) return m.inferred.length ? `${list} (from the tensors; no config.json)` : 'nothing';
  return m.inferred.length ? `${list} (from the tensors); the rest from config.json` : 'nothing: all from config.json';
}
