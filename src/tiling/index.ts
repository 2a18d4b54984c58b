// Sliding-window inference for inputs too large for one pass (see README, "Large images").
export { type Blend, importanceMap, scanInterval, windowStarts } from './windows.js';
export { type Progress, type SlidingWindowSettings, type TiledResult, type WindowRunner, slidingWindow, windowGeometry } from './sliding.js';
export {
  type DeviceLimits,
  type PlanEstimate,
  type TileOptions,
  type TileSetting,
  type TilingDecision,
  decideTiling,
  estimatePlan,
  exceeds,
} from './budget.js';
