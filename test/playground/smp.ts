// Runs smp itself (tools/smp_playground.py over smp's source) for the playground tests, or says why it
// cannot (for skip()). smp's source: $SMP_SOURCE, else /tmp/smp, else a copy extracted from the smp
// mirror when this machine has one (git archive into the temp folder, once).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = '/usr/bin/python3';
const MIRROR = '/work/.mirror/qubvel-org+segmentation_models.pytorch/repo';
const HINT = 'set SMP_SOURCE to a checkout of segmentation_models.pytorch (the folder holding segmentation_models_pytorch/)';

const isSmp = (dir: string | undefined): dir is string => !!dir && existsSync(join(dir, 'segmentation_models_pytorch', '__init__.py'));

let found: { path?: string; why?: string } | undefined;

/** smp's source folder, or why there is none / no PyTorch to run it. */
export function smpSource(): { path?: string; why?: string } {
  if (found) return found;
  const torch = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (torch.error || torch.status !== 0) return (found = { why: `no PyTorch + torchvision at ${PYTHON} (bash scripts/setup-system.sh --torch)` });
  for (const dir of [process.env.SMP_SOURCE, '/tmp/smp']) if (isSmp(dir)) return (found = { path: dir });
  if (existsSync(MIRROR)) {
    const dir = join(tmpdir(), 'webgpu-unet-smp');
    if (isSmp(dir)) return (found = { path: dir });
    mkdirSync(dir, { recursive: true });
    const r = spawnSync('bash', ['-c', `git --git-dir="${MIRROR}" archive HEAD | tar -x -C "${dir}"`], { encoding: 'utf8' });
    if (r.status === 0 && isSmp(dir)) return (found = { path: dir });
  }
  return (found = { why: `no smp source (${HINT})` });
}

/** Runs tools/smp_playground.py with `args` after `--smp SRC`; its JSON lines, parsed. Throws with its
 *  stderr's last lines when it fails. */
export function runSmp(args: string[]): Record<string, unknown>[] {
  const src = smpSource();
  if (!src.path) throw new Error(src.why);
  const r = spawnSync(PYTHON, ['tools/smp_playground.py', '--smp', src.path, ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.error || r.status !== 0) {
    const tail = (r.stderr ?? '').trim().split('\n').slice(-6).join('\n');
    throw new Error(`tools/smp_playground.py ${args[0]} failed (${r.error?.message ?? `exit ${r.status}`}):\n${tail}`);
  }
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A fresh temporary folder for one suite's files. */
export const tempDir = (): string => mkdtempSync(join(tmpdir(), 'playground-'));
