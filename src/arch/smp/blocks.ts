// The blocks smp's decoders share (`base/modules.py`): Conv2dReLU and the SCSE attention.
import type { GraphBuilder, ValueId } from '../../ir/graph.js';
import type { TensorReader } from '../reader.js';
import { WeightsError } from '../../errors.js';

const BN_EPS = 1e-5;
/** smp's SCSEModule default */
const SCSE_REDUCTION = 16;

/** SCSE (reduction 16): x * cSE(x) + x * sSE(x); `name` is the Attention module (its `attention` holds the
 *  SCSEModule). */
export function scse(b: GraphBuilder, r: TensorReader, x: ValueId, name: string): ValueId {
  const C = b.channels(x);
  const mid = Math.floor(C / SCSE_REDUCTION);
  if (mid < 1) throw new WeightsError(`${r.source}: ${name}: scse on ${C} channels (fewer than ${SCSE_REDUCTION}) has no squeeze channels`);
  const p = `${name}.attention`;
  let c = b.globalAvgPool(`${p}.cSE.0`, x);
  c = b.relu(`${p}.cSE.2`, b.conv2d(`${p}.cSE.1`, c, r.conv(`${p}.cSE.1`, [mid, C, 1, 1], true)));
  c = b.sigmoid(`${p}.cSE.4`, b.conv2d(`${p}.cSE.3`, c, r.conv(`${p}.cSE.3`, [C, mid, 1, 1], true)));
  const s = b.sigmoid(`${p}.sSE.1`, b.conv2d(`${p}.sSE.0`, x, r.conv(`${p}.sSE.0`, [1, C, 1, 1], true)));
  return b.scseGate(`${p}.scse`, x, c, s);
}

/** Conv2dReLU: conv 3x3 pad 1 (bias only without a norm), BatchNorm, ReLU. */
export function conv2dReLU(b: GraphBuilder, r: TensorReader, x: ValueId, name: string, cout: number, useNorm: boolean): ValueId {
  let y = b.conv2d(`${name}.0`, x, r.conv(`${name}.0`, [cout, b.channels(x), 3, 3], !useNorm), { padding: 1 });
  if (useNorm) y = b.batchNorm(`${name}.1`, y, r.batchNorm(`${name}.1`, cout, BN_EPS));
  return b.relu(`${name}.2`, y);
}
