// The smp fixtures of tools/make_smp_fixtures.py: NAME.io.safetensors (committed) holds the inputs and the
// float64 PyTorch outputs, and the sha256 of the weights they were computed with; the weights themselves
// are regenerated, not committed (test/fixtures/smp/README.md), so they are checked before being trusted.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { parseSafetensors } from '../../src/weights/safetensors.js';

export const SMP_DIR = 'test/fixtures/smp';
export const SMP_HINT = 'run `/usr/bin/python3 tools/make_smp_fixtures.py --weights` (npm test does it when PyTorch is installed)';

export interface Pair {
  input: { data: Float32Array; shape: number[] };
  output: { data: Float32Array; shape: number[] };
}

/** The fixture's `input` / `output` pair, and its `input_odd` / `output_odd` pair when it has one. */
export function smpFixture(name: string, weightsPath: string): Pair & { odd?: Pair } {
  const path = `${SMP_DIR}/${name}.io.safetensors`;
  if (!existsSync(path)) throw new Error(`${path} is missing: ${SMP_HINT}`);
  const io = parseSafetensors(readFileSync(path), path);
  if (!existsSync(weightsPath)) throw new Error(`${weightsPath} is missing: ${SMP_HINT}`);
  const sha = createHash('sha256').update(readFileSync(weightsPath)).digest('hex');
  if (sha !== io.metadata.model_sha256) throw new Error(`${weightsPath}: sha256 ${sha.slice(0, 12)}… is not the one ${path} was computed with: ${SMP_HINT}`);
  const tensor = (n: string) => ({ data: io.getF32(n), shape: [...io.tensors.get(n)!.shape] });
  const pair = (suffix: string): Pair => ({ input: tensor(`input${suffix}`), output: tensor(`output${suffix}`) });
  return { ...pair(''), odd: io.tensors.has('input_odd') ? pair('_odd') : undefined };
}
