// The smp encoders the engine runs. An encoder family is one file beside this one plus one entry here.
import { efficientnetEncoder } from './efficientnet.js';
import { mobilenetEncoder } from './mobilenet.js';
import { resnetEncoder } from './resnet.js';
import type { SmpEncoder } from './types.js';

export const ENCODERS: readonly SmpEncoder[] = [resnetEncoder, efficientnetEncoder, mobilenetEncoder];
/** every encoder_name some family builds */
export const SUPPORTED_ENCODERS: readonly string[] = ENCODERS.flatMap((e) => e.names);
/** The encoder family that builds `name` (a supported encoder_name). */
export const encoderOf = (name: string): SmpEncoder => ENCODERS.find((e) => e.names.includes(name))!;
export type { SmpEncoder } from './types.js';
