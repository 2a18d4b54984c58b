// The smp decoders the engine runs, by config.json's `_model_class`. A decoder is one file beside this one
// plus one entry here.
import type { SmpDecoder } from '../types.js';
import { unetDecoder } from './unet.js';
import { unetPlusPlusDecoder } from './unetPlusPlus.js';

/** the first is what a config without `_model_class` (and a bare state_dict without decoder blocks) is */
export const DECODERS: readonly SmpDecoder[] = [unetDecoder, unetPlusPlusDecoder];
export const MODEL_CLASSES: readonly string[] = DECODERS.map((d) => d.modelClass);
