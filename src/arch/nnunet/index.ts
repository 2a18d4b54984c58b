// nnU-Net v2 models as one architecture plug-in. Its config is what a results folder (or `unet convert` of
// one) says beside the weights: { nnunet: { plans, dataset, configuration, trainerName, mirroringAxes,
// folds } }, where plans and dataset are plans.json and dataset.json as nnU-Net wrote them. The weights hold
// each fold's network_weights under `fold_K.` (src/nnunetSource.ts); with several folds the model is their
// ensemble: one graph running every fold, whose output is the mean of their logits (each fold's last conv
// scaled by 1 / folds, and the scaled logits summed), as nnU-Net's predictor averages them.
import { GraphBuilder, type ValueId } from '../../ir/graph.js';
import type { Architecture, ModelConfig } from '../types.js';
import { buildNnunetNetwork, totalStrides } from './network.js';
import { checkNnunetChannels, nnunetConfig, type NnunetConfig } from './plans.js';
import { WeightsError } from '../../errors.js';

/** The `nnunet` entry of a model config, checked for the fields the plug-in reads. */
export interface NnunetModelConfig {
  plans: Record<string, unknown>;
  dataset: Record<string, unknown>;
  configuration: string;
  trainerName?: string;
  mirroringAxes?: number[] | null;
  /** the folds in the weights, as their key prefixes' names: 'fold_0', 'fold_all' */
  folds: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function nnunetModelConfig(config: ModelConfig | undefined, source: string): NnunetModelConfig {
  const c = config?.nnunet;
  const bad = (what: string): never => {
    throw new WeightsError(`${source}: nnunet.${what}`);
  };
  if (!isObject(c)) return bad('is not an object');
  if (!isObject(c.plans)) bad('plans must be plans.json as an object');
  if (!isObject(c.dataset)) bad('dataset must be dataset.json as an object');
  if (typeof c.configuration !== 'string') bad('configuration must be a string (e.g. "3d_fullres")');
  if (!Array.isArray(c.folds) || c.folds.length === 0 || !c.folds.every((f) => typeof f === 'string' && /^fold_(\d+|all)$/.test(f)))
    bad('folds must list the folds in the weights, e.g. ["fold_0"]');
  if (c.trainerName !== undefined && typeof c.trainerName !== 'string') bad('trainerName must be a string');
  return c as unknown as NnunetModelConfig;
}

/** The plans' configuration of a model config (the predictor's settings beside the network). */
export function nnunetSettings(config: ModelConfig | undefined, source: string): NnunetConfig {
  return settingsOf(nnunetModelConfig(config, source), source);
}

function settingsOf(c: NnunetModelConfig, source: string): NnunetConfig {
  return nnunetConfig(c.plans, c.dataset, c.configuration, { trainerName: c.trainerName, plansFile: `${source} plans`, datasetFile: `${source} dataset` });
}

export const nnunet: Architecture = {
  name: 'nnunet',
  detect: (_keys, config) => config !== undefined && Object.hasOwn(config, 'nnunet'),
  repeatedKey: (key) => key.includes('.all_modules.') || /^fold_(\d+|all)\.decoder\.encoder\./.test(key),

  build(r, config, options) {
    const c = nnunetModelConfig(config, r.source);
    const settings = settingsOf(c, r.source);
    const net = settings.network;
    // the first conv's input channels and the head's outputs against dataset.json's channels and labels
    const first = net.className === 'PlainConvUNet' ? 'encoder.stages.0.0.convs.0.conv.weight' : 'encoder.stem.convs.0.conv.weight';
    const head = `decoder.seg_layers.${net.nStages - 2}.weight`;
    for (const fold of c.folds) {
      const inShape = r.shape(`${fold}.${first}`);
      if (inShape) checkNnunetChannels(settings, 'input', inShape[1], `${fold}.${first}`);
      const outShape = r.shape(`${fold}.${head}`);
      if (outShape) checkNnunetChannels(settings, 'output', outShape[0], `${fold}.${head}`);
    }
    const b = new GraphBuilder();
    const input = b.value('input', net.inputChannels);
    const scale = 1 / c.folds.length;
    const logits: ValueId[] = c.folds.map((fold) => buildNnunetNetwork(b, r, net, input, { prefix: `${fold}.`, scale }));
    let y = logits[0];
    for (let i = 1; i < logits.length; i++) y = b.add2(`ensemble.${i}`, y, logits[i]);
    r.finish(`not the ${net.className} that ${settings.configuration} of these plans describes`);

    const strides = totalStrides(net);
    const lcm = strides.reduce((a, m) => (a * m) / gcd(a, m), 1);
    const fmt = (f: number[]) => (f.length > 1 && f.every((v) => v === f[0]) ? `${f[0]}` : f.join(','));
    const variant = `${settings.configuration}, ${net.nStages} stages ${fmt(net.featuresPerStage.slice(0, 1))}-${net.featuresPerStage.at(-1)}${c.folds.length > 1 ? `, ${c.folds.length} folds` : ` ${c.folds[0]}`}`;
    const name = `nnU-Net ${net.className}`;
    return {
      graph: b.finish(input, y),
      info: {
        architecture: `nnunet-${net.className}`,
        family: 'nnunet',
        name,
        variant,
        title: `${name} ${variant}`,
        reference: { option: '--nnunet', config: true },
        encoder: net.className === 'PlainConvUNet' ? 'PlainConvEncoder' : `ResidualEncoder (${net.block})`,
        depth: net.nStages,
        decoderChannels: net.featuresPerStage.slice(0, -1).reverse(),
        attention: null,
        upsampling: 'transposed-conv',
        inChannels: net.inputChannels,
        classes: net.numClasses,
        // logits: nnU-Net applies its softmax or sigmoid after resampling them back (its export step)
        activation: options.activation ?? 'identity',
        preprocessing: { kind: 'nnunet', schemes: settings.normalizationSchemes },
        sizeMultiple: net.dims === 2 ? lcm : 1,
        dims: net.dims,
        sizeMultiples: strides,
        inferred: [],
        nnunet: c as unknown as Record<string, unknown>,
        unused: ['*.all_modules.* and decoder.encoder.* (the same tensors registered twice)', 'decoder.seg_layers.0..n-3 (deep supervision heads)'],
      },
    };
  },
};

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
