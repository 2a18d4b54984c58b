// smp's answers for the playground tests. Committed: test/fixtures/playground/ (tools/smp_playground.py
// fixtures made them from smp's source; see its README), which the tests compare with and which need only
// /usr/bin/python3 with PyTorch (to make the seeded .pth files). Live: smp itself (tools/smp_playground.py over
// its source), run in addition when $SMP_SOURCE names a copy of it (liveSmp). smpSource() also looks in /tmp/smp
// and the smp mirror, for the browser test.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSafetensors } from '../../src/weights/safetensors.js';

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

/** smp's source when $SMP_SOURCE is set (the live checks then run too); a set one that is not smp fails. */
export function liveSmp(): string | undefined {
  const dir = process.env.SMP_SOURCE;
  if (!dir) return undefined;
  if (!isSmp(dir)) throw new Error(`SMP_SOURCE=${dir} has no segmentation_models_pytorch/__init__.py (${HINT})`);
  return dir;
}

export const FIXTURES = 'test/fixtures/playground';

/** [dtype, ...shape] */
export type Layout = [string, ...number[]];

export interface SmpFixture {
  smp_version: string;
  torch_version: string;
  configs: Record<string, { config_json: string; parameters: number; buffers: number; state_dict: Record<string, Layout> }>;
  forwards: Record<string, { config_json: string; weights_sha256: string; io: string; input_shape: number[] }>;
}

export interface PretrainedFixture {
  files: Record<string, { command: string[]; sha256: string; bytes: number; tensors: number }>;
  /** encoder: key -> [sha256, dtype, ...shape] of each encoder.* tensor as smp loads the file */
  cases: Record<string, { file: string; config_json: string; encoder: Record<string, [string, string, ...number[]]> }>;
}

const readJson = <T>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;
export const smpFixture = (): SmpFixture => readJson<SmpFixture>('smp.json');
export const pretrainedFixture = (): PretrainedFixture => readJson<PretrainedFixture>('pretrained.json');

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Whether /usr/bin/python3 has PyTorch and torchvision (the .pth makers need them; smp is not needed). */
export function torchWhy(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `no PyTorch + torchvision at ${PYTHON} (bash scripts/setup-system.sh --torch)`;
  return undefined;
}

/** Makes pretrained.json's `file` into `dir` with its recorded command (no smp needed); the file's bytes.
 *  Throws with the command's last stderr lines when it fails. */
export function makePth(fixture: PretrainedFixture, file: string, dir: string): Uint8Array {
  const f = fixture.files[file];
  if (!f) throw new Error(`${FIXTURES}/pretrained.json has no file ${file}`);
  const out = join(dir, `${file}.pth`);
  const [cmd, ...args] = f.command.map((a) => (a === '{out}' ? out : a));
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${f.command.join(' ')} failed: ${r.error?.message ?? r.stderr.trim().split('\n').slice(-4).join('\n')}`);
  return readFileSync(out);
}

/** Every encoder.* tensor of a model.safetensors against pretrained.json's `encoder` (smp's sha256, dtype and
 *  shape of each, as smp loaded the file): the problems, empty when all are smp's bit for bit. */
export function encoderProblems(want: PretrainedFixture['cases'][string]['encoder'], safetensors: Uint8Array): string[] {
  const st = parseSafetensors(safetensors);
  const problems: string[] = [];
  for (const [key, [sha, ...layout]] of Object.entries(want)) {
    const t = st.tensors.get(key);
    if (!t) problems.push(`missing ${key}`);
    else if (JSON.stringify([t.dtype, ...t.shape]) !== JSON.stringify(layout)) problems.push(`${key}: ours ${[t.dtype, ...t.shape]}, smp's ${layout}`);
    else if (sha256(st.bytes.subarray(t.byteOffset, t.byteOffset + t.byteLength)) !== sha) problems.push(`${key}: other values than smp's`);
  }
  for (const key of st.tensors.keys()) if (key.startsWith('encoder.') && !(key in want)) problems.push(`unexpected ${key}`);
  return problems;
}
