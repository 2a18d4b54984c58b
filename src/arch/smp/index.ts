// segmentation_models.pytorch (smp) models as one architecture plug-in: an encoder (encoders/), a decoder
// chosen by config.json's `_model_class` or, for a bare state_dict, by its decoder's keys (decoders/), and
// smp's segmentation head, named as smp's state_dict names them. Settings: config.ts.
import { GraphBuilder } from '../../ir/graph.js';
import type { Architecture } from '../types.js';
import { smpSettings, unsupported } from './config.js';
import { encoderOf } from './encoders/index.js';
import { segmentationHead } from './head.js';

export const smp: Architecture = {
  name: 'smp',
  // every smp config is claimed, so that one of a class or encoder the engine does not run is refused by
  // name rather than tried as another architecture
  detect: (keys, config) =>
    (config !== undefined && (Object.hasOwn(config, '_model_class') || Object.hasOwn(config, 'encoder_name'))) ||
    keys.some((k) => k.startsWith('segmentation_head.')),

  build(r, config, options) {
    const s = smpSettings(r, config, options);
    if (r.keys.some((k) => k.startsWith('classification_head.'))) throw unsupported(r.source, 'the auxiliary classification head (classification_head.*)');
    if (r.keys.some((k) => k.startsWith('decoder.center.'))) throw unsupported(r.source, 'a decoder center block (decoder.center.*)');

    const encoder = encoderOf(s.encoderName);
    const b = new GraphBuilder();
    const input = b.value('input', s.inChannels);
    const features = encoder.build(b, r, input, s.encoderName, s.depth, 'encoder.');
    const encChannels = encoder.outChannels(s.encoderName, s.inChannels).slice(0, s.depth + 1);
    features.forEach((f, i) => {
      if (b.channels(f) !== encChannels[i])
        throw new Error(`internal: ${s.encoderName} feature ${i} has ${b.channels(f)} channels, expected ${encChannels[i]}`);
    });
    const y = segmentationHead(b, r, s.decoder.build(b, r, features, s), s.classes, s.activation);
    const name = `smp ${s.decoder.modelClass}`;
    r.finish(`not an ${name} (${s.encoderName}, depth ${s.depth}) state_dict`);

    const variant = `${s.encoderName}, decoder ${s.decoderChannels.join(',')}${s.attention ? ` ${s.attention}` : ''}`;
    return {
      graph: b.finish(input, y),
      info: {
        architecture: s.decoder.architecture,
        family: 'smp',
        name,
        variant,
        title: `${name} ${variant}`,
        reference: { option: '--smp', config: true },
        encoder: s.encoderName,
        depth: s.depth,
        decoderChannels: s.decoderChannels,
        attention: s.attention,
        upsampling: s.interpolation,
        inChannels: s.inChannels,
        classes: s.classes,
        activation: s.activation,
        preprocessing: encoder.preprocessing,
        sizeMultiple: s.decoder.sizeMultiple(s.depth),
        inferred: s.inferred,
        unused: encoder.unused(s.encoderName, s.depth, 'encoder.'),
      },
    };
  },
};
