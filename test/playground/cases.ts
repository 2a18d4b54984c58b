// The playground's configurations checked against smp, by the name test/fixtures/playground/smp.json files
// them under. tools/smp_playground.py holds smp's own arguments for each name (written there, not derived
// from these), so the tests compare our config.json text with smp's save_pretrained text, not with itself.
// test/playground/export.ts writes our side of these for the fixture maker.
import { type ModelOptions, defaultModelOptions, setModelOption } from '../../src/index.js';

const base = defaultModelOptions();

/** name -> [what it is, options]: the two networks of issue 22's browser test first, then more corners
 *  (no norm, in_channels 1 and 4, UnetPlusPlus + scse, depth 2 and 3), then the browser test's linked ones */
export const COUNT_CASES: [string, string, ModelOptions][] = [
  ['r34_d5_c3', 'Unet resnet34 depth 5, 3 classes', { ...base, classes: 3 }],
  ['eb0_d4_c2', 'Unet efficientnet-b0 depth 4, 2 classes', { ...setModelOption({ ...base, encoder: 'efficientnet-b0' }, 'depth', 4), classes: 2 }],
  ['mnv2_defaults', 'Unet mobilenet_v2 (smp defaults)', { ...base, encoder: 'mobilenet_v2' }],
  ['r18_scse', 'Unet resnet18 + scse', { ...base, encoder: 'resnet18', attention: 'scse' }],
  ['pp_r34', 'UnetPlusPlus resnet34', { ...base, architecture: 'UnetPlusPlus' }],
  [
    'rx50_d3_nonorm_bilinear_in1_sigmoid',
    'Unet resnext50_32x4d depth 3, no norm, bilinear, in 1, sigmoid',
    {
      ...setModelOption({ ...base, encoder: 'resnext50_32x4d' }, 'depth', 3),
      decoderNorm: 'none',
      upsampling: 'bilinear',
      inChannels: 1,
      activation: 'sigmoid',
    },
  ],
  [
    'pp_eb3_d3_scse_in4_c5_softmax',
    'UnetPlusPlus efficientnet-b3 depth 3 scse, in 4, 5 classes softmax',
    {
      ...setModelOption({ ...base, architecture: 'UnetPlusPlus', encoder: 'efficientnet-b3' }, 'depth', 3),
      attention: 'scse',
      inChannels: 4,
      classes: 5,
      activation: 'softmax',
    },
  ],
  [
    'r50_d2_c2_logsoftmax',
    'Unet resnet50 depth 2 logsoftmax',
    { ...setModelOption({ ...base, encoder: 'resnet50' }, 'depth', 2), classes: 2, activation: 'logsoftmax' },
  ],
  // the networks test/browser/playground.browser.ts opens by their links (with r34_d5_c3, eb0_d4_c2 and pp_r34)
  ['mnv2_in1_c2', 'Unet mobilenet_v2, in 1, 2 classes', { ...base, encoder: 'mobilenet_v2', inChannels: 1, classes: 2 }],
  ['r18_scse_c4', 'Unet resnet18 + scse, 4 classes', { ...base, encoder: 'resnet18', attention: 'scse', classes: 4 }],
  [
    'eb3_d3_in4_c3',
    'Unet efficientnet-b3 depth 3, decoder 64,32,16, in 4, 3 classes',
    { ...setModelOption({ ...base, encoder: 'efficientnet-b3' }, 'depth', 3), decoderChannels: [64, 32, 16], inChannels: 4, classes: 3 },
  ],
];

/** small enough for lavapipe: resnet18 to depth 3, a narrow decoder */
export const SMALL: ModelOptions = {
  ...setModelOption({ ...defaultModelOptions(), encoder: 'resnet18' }, 'depth', 3),
  decoderChannels: [32, 16, 16],
  classes: 2,
};

/** name -> options and the seed of our random weights: smp runs these weights (exported by
 *  modelSafetensors) on the fixture's input; the input's shape is the fixture maker's */
export const FORWARD_CASES: [string, ModelOptions, number][] = [
  ['fwd_r18_d3', SMALL, 3],
  [
    'fwd_pp_r18_d3_scse_nonorm_bilinear_in1',
    { ...SMALL, architecture: 'UnetPlusPlus', attention: 'scse', decoderNorm: 'none', upsampling: 'bilinear', inChannels: 1, activation: 'sigmoid' },
    3,
  ],
];

/** pretrained encoder files (made by the fixture's maker command), and the options each is loaded with */
export const PRETRAINED_CASES: [string, string, ModelOptions][] = [
  ['pre_r18_in3', 'resnet18', { ...setModelOption({ ...base, encoder: 'resnet18' }, 'depth', 4), classes: 2 }],
  ['pre_r18_in1', 'resnet18', { ...setModelOption({ ...base, encoder: 'resnet18' }, 'depth', 4), inChannels: 1, classes: 2 }],
  ['pre_r18_in4', 'resnet18', { ...setModelOption({ ...base, encoder: 'resnet18' }, 'depth', 4), inChannels: 4, classes: 2 }],
  ['pre_eb0_d4', 'efficientnet-b0', { ...setModelOption({ ...base, encoder: 'efficientnet-b0' }, 'depth', 4), classes: 2 }],
  ['pre_mnv2_d3_in2', 'mobilenet_v2', { ...setModelOption({ ...base, encoder: 'mobilenet_v2' }, 'depth', 3), inChannels: 2 }],
];

/** the seed of the decoder in the pretrained cases' exports (the encoder comes from the file) */
export const PRETRAINED_DECODER_SEED = 1;
