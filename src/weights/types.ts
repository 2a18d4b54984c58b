// Parameter types now live in the neutral src/params.ts; re-exported here for code that still names this module.
export type { BatchNormParams, ConvParams } from '../params.js';
