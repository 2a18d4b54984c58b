// `unet infer`: runs a U-Net (a safetensors state_dict, an smp folder, an nnU-Net results folder or zip) on
// an NCHW (or, 3D, NCDHW) tensor read from a safetensors file and writes the output tensor (plus provenance
// in __metadata__) to a new safetensors file.
import { statSync, type Stats } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { describeDevice, getDevice, parseSafetensors, releaseGpu, writeSafetensors, type Model } from '../node.js';
import { checkPadMode, type PadMode } from '../ir/types.js';
import { printable, quoted, resolveLimits, type Limits } from '../limits.js';
import { parseCommandArgs, required } from './args.js';
import { CliError, UsageError } from './errors.js';
import { readInputFile, writeAtomically } from './files.js';
import { LIMITS_USAGE, LIMIT_OPTIONS, limitsFromArgs } from './limits.js';
import { ACTIVATION_HELP, weightsHelp, modelFiles, openModel, parseActivation, readWeightsArg } from './model.js';
import { nonFiniteMessage, nonFiniteOutputs, weightsNonFinite } from './outputs.js';
import { NNUNET_OPTIONS, nnunetChoice, nnunetHelp, takeFolds } from './nnunet.js';
import { ENGINE_NAME, ENGINE_VERSION } from './package.js';
import { STDIO, checkStdout, readStdin, writeStdout } from './stdio.js';

export const INFER_USAGE = `Usage: unet infer --weights W --input X.safetensors --out Y.safetensors [options]
       unet infer --weights RESULTS_FOLDER|ZIP [--folds 0 1 ...|all] [--checkpoint NAME]
                  [--configuration C] --input X.safetensors --out Y.safetensors

Runs the model W on the tensor "input" of X (NCHW; [N, C, D, H, W] for a 3D nnU-Net model) and writes its
output (after the model's activation: sigmoid probabilities for the brain U-Net, what config.json says for
an smp Unet, logits for nnU-Net) as the F32 tensor "output" of Y (with __metadata__: weights, input,
engine, adapter, forward time; for nnU-Net the folds, checkpoint and configuration that ran). Any H x W
works for 2D models: they pad the input to their size multiple (16 for the brain U-Net of depth 4) and
crop the output back. A 3D nnU-Net network takes D, H and W that are multiples of its strides per axis
(unet info --weights W says which).

An nnU-Net results folder (or its zip) runs the network as nnUNetv2_predict does before resampling: the
logits of every fold given, averaged; the input is the preprocessed image (normalized, resampled to the
plans' spacing, transposed as plans.json says), not a raw NIfTI.

Options:
  --weights PATH        ${weightsHelp()}
  --activation F        ${ACTIVATION_HELP}
  --input PATH          safetensors file holding the input tensor (F32, F16, BF16 or F64); - for stdin
  --out PATH            output file; written to a temporary file first, then renamed into place;
                        - for stdout
${nnunetHelp(24)}
  --input-name NAME     tensor to read from --input (default "input")
  --output-name NAME    tensor name to write to --out (default "output")
  --pad MODE            padding for sizes the U-Net cannot take directly: reflect (default) or zero
  --runs N              forward passes timed after the first (compiling) one; N > 1 prints the
                        median and the minimum (default 1; 0 times the first run only)
  --strict              an output holding NaN / Inf although the input is finite is an error (no
                        output written); by default a warning
  -h, --help            show this help

${LIMITS_USAGE}
Timings go to stderr. Errors are one line, "unet: ...", exit code 1 (2 for a bad command line).
`;

const OPTIONS = {
  weights: { type: 'string' },
  input: { type: 'string' },
  out: { type: 'string' },
  'input-name': { type: 'string', default: 'input' },
  'output-name': { type: 'string', default: 'output' },
  runs: { type: 'string', default: '1' },
  pad: { type: 'string', default: 'reflect' },
  activation: { type: 'string' },
  strict: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...NNUNET_OPTIONS,
  ...LIMIT_OPTIONS,
} as const;

/** Input dtypes the safetensors reader converts to f32. */
const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16', 'F64']);
const q = (s: string) => quoted(s, 200);

export async function infer(args: string[]): Promise<number> {
  const { args: rest, folds } = takeFolds('infer', args);
  const v = parseCommandArgs('infer', rest, OPTIONS);
  if (v.help) {
    process.stdout.write(INFER_USAGE);
    return 0;
  }
  const weights = required('infer', 'weights', v.weights);
  const inputPath = required('infer', 'input', v.input);
  const out = required('infer', 'out', v.out);
  const inputName = required('infer', 'input-name', v['input-name']);
  const outputName = required('infer', 'output-name', v['output-name']);
  if (outputName === '__metadata__') throw new UsageError(`infer: --output-name "__metadata__" is reserved by the safetensors format`);
  if (!/^\d+$/.test(v.runs ?? '') || Number(v.runs) > 100_000) {
    throw new UsageError(`infer: --runs must be an integer from 0 to 100000, found ${q(v.runs ?? '')}`);
  }
  const runs = Number(v.runs);
  let pad: PadMode;
  try {
    pad = checkPadMode(v.pad, '--pad');
  } catch (e) {
    throw new UsageError(`infer: ${(e as Error).message}`);
  }
  const activation = parseActivation('infer', v.activation);
  const nnunet = nnunetChoice('infer', folds, v);
  const limits = resolveLimits(limitsFromArgs('infer', v));

  // Everything that can be checked without a GPU is checked first: failures are quick and cheap.
  if (out === STDIO) checkStdout('infer', '--out');
  else checkOutput(out, [['--input', inputPath], ...modelFiles(weights).map((f): [string, string] => ['--weights', f])]);
  const modelArg = await readWeightsArg(weights, limits, process.stderr, nnunet, 'infer');
  const input = readInput(inputPath, inputName, limits, modelArg.dims);

  let device: GPUDevice | undefined;
  let model: Model | undefined;
  try {
    const t0 = performance.now();
    device = await getDevice();
    const t1 = performance.now();
    model = await openModel(device, modelArg, { activation }, (line) => process.stderr.write(`${line}\n`));
    const t2 = performance.now();
    let result: Awaited<ReturnType<Model['run']>>;
    try {
      result = await model.run(input, { pad });
    } catch (e) {
      throw withInputContext(e, inputPath, inputName);
    }
    const t3 = performance.now();
    const nonFinite = nonFiniteOutputs(result.data, result.shape);
    if (nonFinite) {
      const message = nonFiniteMessage(`${printable(inputPath)}: tensor ${q(inputName)}`, nonFinite, weightsNonFinite(model.info.warnings));
      if (v.strict) throw new CliError(`${message} (--strict: no output written)`);
      process.stderr.write(`unet: warning: ${message}\n`);
    }
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      await model.run(input, { pad });
      times.push(performance.now() - s);
    }
    times.sort((a, b) => a - b);
    const firstMs = t3 - t2;
    const forwardMs = times.length ? times[Math.floor((times.length - 1) / 2)] : firstMs;

    const adapter = adapterName(device);
    const metadata: Record<string, string> = {
      weights: basename(weights),
      activation: model.info.activation,
      input: basename(inputPath),
      input_tensor: inputName,
      engine: ENGINE_NAME,
      engine_version: ENGINE_VERSION,
      adapter,
      forward_ms: forwardMs.toFixed(3),
      first_run_ms: firstMs.toFixed(3),
      // an nnU-Net model's weights say which folds, checkpoint and configuration they are (src/nnunetSource.ts)
      ...Object.fromEntries(Object.entries(model.info.metadata).filter(([k]) => /^nnunet_(folds|checkpoint|configuration)$/.test(k))),
    };
    const bytes = writeSafetensors({ [outputName]: { shape: [...result.shape], data: result.data } }, metadata);
    if (out === STDIO) writeStdout(bytes);
    else writeAtomically(out, bytes);

    const dtype = input.dtype === 'F32' ? '' : ` ${input.dtype}`;
    let forward = '';
    if (times.length === 1) forward = `, forward ${ms(forwardMs)}`;
    else if (times.length > 1) forward = `, forward median ${ms(forwardMs)}, min ${ms(times[0])} over ${times.length} runs`;
    process.stderr.write(
      `unet infer: ${shapeText(input.shape)}${dtype} -> ${shapeText(result.shape)}; ` +
        `device ${ms(t1 - t0)}, load ${ms(t2 - t1)}, first run ${ms(firstMs)}${forward} (${adapter})\n`,
    );
    return 0;
  } finally {
    model?.dispose();
    device?.destroy();
    releaseGpu();
  }
}

const shapeText = (s: readonly number[]) => `[${s.join(',')}]`;
const ms = (t: number) => `${t >= 100 ? Math.round(t) : t.toFixed(1)} ms`;

function adapterName(device: GPUDevice): string {
  const d = describeDevice(device);
  return d.description || [d.vendor, d.architecture].filter(Boolean).join(' ') || 'unknown adapter';
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The output's directory exists, the output is not a directory, and it is none of the input files. */
function checkOutput(out: string, inputs: [flag: string, path: string][]): void {
  const dir = dirname(out);
  const d = statOrUndefined(dir);
  const name = printable(out);
  if (!d) throw new CliError(`${name}: the output directory ${q(dir)} does not exist`);
  if (!d.isDirectory()) throw new CliError(`${name}: ${q(dir)} is not a directory`);
  const o = statOrUndefined(out);
  if (o?.isDirectory()) throw new CliError(`${name}: is a directory, expected a file path for the output`);
  for (const [flag, path] of inputs) {
    const i = statOrUndefined(path);
    // Same inode catches links and different spellings of one path; resolve() the files not there yet.
    const same = o && i ? o.dev === i.dev && o.ino === i.ino : resolve(out) === resolve(path);
    if (same) throw new UsageError(`infer: --out ${name} is the same file as ${flag} ${printable(path)}: refusing to overwrite it`);
  }
}

interface Input {
  data: Float32Array;
  shape: number[];
  dtype: string;
}

/** `dims`: the model's spatial axes when known before loading it (a 3D nnU-Net model: 3). */
function readInput(path: string, name: string, limits: Limits, dims?: 2 | 3): Input {
  const bytes = path === STDIO ? readStdin('infer', '--input') : readInputFile(path, 'maxInputBytes', limits);
  const file = path === STDIO ? 'stdin' : printable(path);
  const st = parseSafetensors(bytes, file); // its errors start with the file name
  const t = st.tensors.get(name);
  if (!t) {
    const names = [...st.tensors.keys()];
    const has =
      names.length === 0 ? 'it has no tensors' : `it has ${names.slice(0, 8).map(q).join(', ')}${names.length > 8 ? `, ... (${names.length} tensors)` : ''}`;
    throw new CliError(`${file}: no tensor ${q(name)} (${has}; choose one with --input-name)`);
  }
  if (!FLOAT_DTYPES.has(t.dtype)) {
    throw new CliError(`${file}: tensor ${q(name)} is ${t.dtype}, expected F32 (F16, BF16 and F64 are converted)`);
  }
  const want = dims === 3 ? '5 dimensions [N, C, D, H, W] (a 3D model)' : '4 dimensions [N, C, H, W]';
  // 5 dimensions go on to the model when its dims are not known yet: it says whether it takes them
  if (dims === undefined ? t.shape.length !== 4 && t.shape.length !== 5 : t.shape.length !== dims + 2) {
    throw new CliError(`${file}: tensor ${q(name)} has shape [${t.shape.join(', ')}], expected ${want}`);
  }
  return { data: st.getF32(name), shape: t.shape, dtype: t.dtype };
}

/** The engine reports input problems as `input: <problem>`; say which file and tensor instead. */
function withInputContext(e: unknown, path: string, name: string): unknown {
  if (e instanceof Error && e.message.startsWith('input: ')) {
    const err = new CliError(`${printable(path)}: tensor ${q(name)}: ${e.message.slice('input: '.length)}`);
    err.stack = `${err.message}\n[caused by] ${e.stack ?? ''}`;
    return err;
  }
  return e;
}
