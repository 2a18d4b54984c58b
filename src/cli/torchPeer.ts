// PyTorch as a benchmark peer: tools/torch_bench.py --serve in a child process, which loads the model
// and the inputs, writes its outputs (the reference every engine is checked against), then times one
// forward per request. The caller interleaves those requests with its own runs, so both see the same
// load on a shared machine; the two never run at once.
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseSafetensors, writeSafetensors } from '../node.js';
import type { TorchReference } from '../arch/types.js';

/** A script of tools/, which only a source checkout has (src/cli/, dist/cli/ or bench/gpu-run.sh's
 *  .gpu/js/ -> tools/); the npm package does not ship it. */
export const toolPath = (name: string) => fileURLToPath(new URL(`../../tools/${name}`, import.meta.url));
const TORCH_SCRIPT = toolPath('torch_bench.py');

/**
 * Writes a model into `dir` as its PyTorch reference reads it (model.safetensors, and config.json beside it
 * when the reference takes a save_pretrained folder) and returns the options that name it to
 * tools/torch_bench.py and tools/export_onnx.py.
 */
export function writeReferenceModel(dir: string, reference: TorchReference, weights: Uint8Array, config: string | undefined): string[] {
  // PyTorch builds an nnU-Net network from plans.json, which the converted weights do not carry as nnU-Net writes it
  if (reference.option === '--nnunet')
    throw new Error('an nnU-Net model is rebuilt by PyTorch from its results folder (TorchPeerOptions.nnunet), not from its weights');
  const file = join(dir, 'model.safetensors');
  writeFileSync(file, weights);
  const folder = reference.config && config !== undefined;
  if (folder) writeFileSync(join(dir, 'config.json'), config);
  return [reference.option, folder ? dir : file];
}

/** tools/torch_bench.py's options naming an nnU-Net results folder and the dna checkout that builds its network. */
function nnunetArgs(n: TorchPeerOptions['nnunet']): string[] {
  if (!n) throw new Error("TorchPeer: reference option '--nnunet' needs options.nnunet (the results folder and a dna checkout)");
  return [
    '--nnunet',
    n.folder,
    '--dna',
    n.dna,
    ...(n.folds ? ['--folds', n.folds.join(',')] : []),
    ...(n.checkpoint ? ['--checkpoint', n.checkpoint] : []),
    ...(n.configuration ? ['--configuration', n.configuration] : []),
  ];
}

export type TorchVariant = 'f32' | 'tf32' | 'fp16-cl';

export interface TorchPeerOptions {
  /** the Python with torch (default /usr/bin/python3, Debian's python3-torch) */
  python?: string;
  /** the model: its state_dict, and its config.json where it came with one */
  weights: Uint8Array;
  config?: string;
  /** how PyTorch rebuilds it: model.info.reference */
  reference: TorchReference;
  /** for reference.option '--nnunet': the results folder, a dynamic_network_architectures checkout that builds its
   *  network, and the folds averaged (default every fold_K present, as loadModel) */
  nnunet?: { folder: string; dna: string; folds?: readonly (number | 'all')[]; checkpoint?: string; configuration?: string };
  /** input tensors by name (`input_*`), NCHW or NCDHW float32 */
  inputs: Record<string, { shape: number[]; data: Float32Array }>;
  threads: number;
  device?: 'cpu' | 'cuda';
  variants?: TorchVariant[];
}

export class TorchPeer {
  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, null>,
    private readonly lines: AsyncIterator<string>,
    private readonly dir: string,
    /** outputs of every input and variant (`output_*`, `output_*@VARIANT`), float32 */
    readonly outputs: ReturnType<typeof parseSafetensors>,
    /** the outputs file's bytes, for --reference */
    readonly outputBytes: Uint8Array,
    readonly version: string,
    /** 'cpu' or the CUDA device's name */
    readonly device: string,
  ) {}

  /** Why PyTorch cannot run here, or undefined if it can (a source checkout with torch importable). */
  static unavailable(python = '/usr/bin/python3'): string | undefined {
    if (!existsSync(TORCH_SCRIPT)) return 'PyTorch comparisons need a source checkout of webgpu-unet (they run tools/torch_bench.py)';
    try {
      execFileSync(python, ['-c', 'import torch'], { stdio: 'ignore' });
      return undefined;
    } catch {
      return `no PyTorch at ${python} (Debian: apt-get install python3-torch)`;
    }
  }

  static async start(o: TorchPeerOptions): Promise<TorchPeer> {
    const dir = mkdtempSync(join(tmpdir(), 'unet-torch-'));
    let child: ChildProcessByStdio<Writable, Readable, null> | undefined;
    try {
      const model = o.reference.option === '--nnunet' ? nnunetArgs(o.nnunet) : writeReferenceModel(dir, o.reference, o.weights, o.config);
      writeFileSync(join(dir, 'x.safetensors'), writeSafetensors(o.inputs));
      const args = [
        TORCH_SCRIPT,
        ...model,
        '--inputs',
        join(dir, 'x.safetensors'),
        '--out',
        join(dir, 'y.safetensors'),
        '--threads',
        String(o.threads),
        '--device',
        o.device ?? 'cpu',
        '--variants',
        (o.variants ?? ['f32']).join(','),
        '--serve',
      ];
      const proc = spawn(o.python ?? '/usr/bin/python3', args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
      child = proc;
      const exited = new Promise<never>((_, reject) => {
        proc.on('error', (e) => reject(new Error(`tools/torch_bench.py could not start: ${e.message}`)));
        proc.on('close', (code) => reject(new Error(`tools/torch_bench.py exited (code ${code}) before it was ready`)));
      });
      exited.catch(() => undefined);
      const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
      const first = await Promise.race([lines.next(), exited]);
      const head = JSON.parse(first.value ?? '{}') as { ready?: boolean; torch_version: string; device: string };
      if (first.done) throw new Error('tools/torch_bench.py ended before it was ready (its error is above)');
      if (!head.ready) throw new Error(`tools/torch_bench.py: unexpected first line ${JSON.stringify(first.value)}`);
      const bytes = new Uint8Array(readFileSync(join(dir, 'y.safetensors')));
      return new TorchPeer(proc, lines, dir, parseSafetensors(bytes, 'PyTorch outputs'), bytes, head.torch_version, head.device);
    } catch (e) {
      child?.kill();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** Milliseconds of one forward of input `name` (synchronized on CUDA). */
  async time(name: string, variant: TorchVariant = 'f32'): Promise<number> {
    this.child.stdin.write(`${name} ${variant}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('tools/torch_bench.py ended during a timing request');
    return (JSON.parse(r.value) as { ms: number }).ms;
  }

  close(): void {
    this.child.stdin.end('\n');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
