// The smp fixtures of tools/make_smp_fixtures.py: NAME.io.safetensors (committed) holds the inputs and the
// float64 PyTorch outputs, and the sha256 of the weights they were computed with; the weights themselves
// are regenerated, not committed (test/fixtures/smp/README.md), so they are checked before being trusted.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { parseSafetensors } from '../../src/weights/safetensors.js';

export const SMP_DIR = 'test/fixtures/smp';
export const SMP_HINT = 'run `/usr/bin/python3 tools/make_smp_fixtures.py --weights` (npm test does it when PyTorch is installed)';

export interface Pair {
  input: { data: Float32Array; shape: number[] };
  output: { data: Float32Array; shape: number[] };
}

/** The fixture's `input` / `output` pair, and its `input_odd` / `output_odd` and `input_padded` /
 *  `output_padded` pairs when it has them (padded: a size smp refuses, the output that of the input padded
 *  to the model's size multiple and cropped back, as the engine runs it). */
export function smpFixture(name: string, weightsPath: string): Pair & { odd?: Pair; padded?: Pair } {
  const path = `${SMP_DIR}/${name}.io.safetensors`;
  if (!existsSync(path)) throw new Error(`${path} is missing: ${SMP_HINT}`);
  const io = parseSafetensors(readFileSync(path), path);
  if (!existsSync(weightsPath)) throw new Error(`${weightsPath} is missing: ${SMP_HINT}`);
  const sha = createHash('sha256').update(readFileSync(weightsPath)).digest('hex');
  if (sha !== io.metadata.model_sha256) throw new Error(`${weightsPath}: sha256 ${sha.slice(0, 12)}… is not the one ${path} was computed with: ${SMP_HINT}`);
  const tensor = (n: string) => ({ data: io.getF32(n), shape: [...io.tensors.get(n)!.shape] });
  const pair = (suffix: string): Pair => ({ input: tensor(`input${suffix}`), output: tensor(`output${suffix}`) });
  const has = (suffix: string) => (io.tensors.has(`input${suffix}`) ? pair(suffix) : undefined);
  return { ...pair(''), odd: has('_odd'), padded: has('_padded') };
}

/** The bound for smp models: max |got - want| within `tol` * max(1, max |want|) of the float64
 *  PyTorch output; asserted, printed and returned. */
export function expectClose(label: string, got: Float32Array, want: Float32Array, tol = 1e-4): number {
  const bound = tol * Math.max(1, ...Array.from(want, Math.abs));
  let maxAbs = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxAbs)) [maxAbs, worst] = [d, i];
  }
  assert.is(got.length, want.length, `${label}: ${got.length} outputs, torch has ${want.length}`);
  assert.ok(maxAbs <= bound, `${label}: max |gpu - torch| ${maxAbs} at ${worst} (gpu ${got[worst]}, torch ${want[worst]}), bound ${bound}`);
  console.log(`  ${label}: max |gpu - torch| = ${maxAbs.toExponential(2)} (bound ${bound.toExponential(1)})`);
  return maxAbs;
}

/** Writes `pth` as a user's .pth is made, torch.save(model.state_dict()), from a fixture's state_dict; returns
 *  why it could not (no PyTorch at /usr/bin/python3), for skip(). */
export function savePth(safetensorsPath: string, pth: string): string | undefined {
  const save = `import sys, numpy, torch; sys.path.insert(0, "tools"); from make_fixtures import read_safetensors
sd, _ = read_safetensors(sys.argv[1]); torch.save({k: torch.from_numpy(numpy.array(v)) for k, v in sd.items()}, sys.argv[2])`;
  const py = spawnSync('/usr/bin/python3', ['-c', save, safetensorsPath, pth], { encoding: 'utf8' });
  if (py.error || py.status !== 0) return `no PyTorch at /usr/bin/python3 to write a .pth: ${py.error?.message ?? py.stderr.trim().split('\n').pop()}`;
  return undefined;
}

/** For f16 runs: max |got - want| and the fraction of outputs on the same side of 0.5 (the same mask). */
export function maskAgreement(got: Float32Array, want: Float32Array): { maxAbs: number; frac: number } {
  let maxAbs = 0;
  let agree = 0;
  for (let i = 0; i < got.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(got[i] - want[i]));
    if (got[i] > 0.5 === want[i] > 0.5) agree++;
  }
  return { maxAbs, frac: agree / got.length };
}
