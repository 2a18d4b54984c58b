// `unet info`: the WebGPU adapter the engine gets (vendor, architecture, description), the device's
// features and limits; with --weights, the model's architecture instead. As text or as one JSON object.
import { describeDevice, getDevice, releaseGpu, type AdapterSummary } from '../node.js';
import { parseCommandArgs } from './args.js';
import { describeModel, formatModel } from './modelInfo.js';
import { weightsHelp, openModel, readWeightsArg } from './model.js';
import { NNUNET_OPTIONS, nnunetChoice, nnunetHelp, takeFolds } from './nnunet.js';
import { UsageError } from './errors.js';
import { DEFAULT_LIMITS } from '../limits.js';

export const INFO_USAGE = `Usage: unet info [--json]
       unet info --weights W [--size HxW | DxHxW] [--folds K ...] [--checkpoint NAME] [--configuration C] [--json]

Shows the WebGPU adapter the engine runs on (vendor, architecture, description) and the features and
limits of the device it gets: optional features the engine uses when present, limits raised to the
adapter's maximum where that helps. Exits 1 when there is no adapter.

With --weights, shows the model instead: architecture, encoder, depth, decoder channels, attention,
up-sampling, input channels, classes, output activation, the input preprocessing it expects (unet
segment's default), parameters, packed weight size, GFLOP of one 256 x 256 forward (64 x 64 x 64 for a
3D model), the input layout (2D or 3D) and the size multiple (per axis for a 3D network), and which
settings were inferred from the tensors rather than read from config.json. For an nnU-Net results folder
(or its zip, or what unet convert made of one) also: configuration, trainer and plans, dataset, the folds
(and checkpoint) read, stages with their features, strides and kernel sizes, patch size, spacing, input
channels with their normalization, labels, and mirroring axes. With --size, also the way unet infer
and segment run an input of that size and why: one pass, one pass with its largest layers in bands of
rows (the same result; tensors past one binding), or sliding windows (past maxBufferSize or the memory
budget), with the GPU memory it takes.

Options:
  --weights PATH     ${weightsHelp(21)}
${nnunetHelp(21)}
  --size HxW         with --weights: how an input of this size runs (DxHxW for a 3D model)
  --json             print one JSON object instead of text
  -h, --help         show this help
`;

const OPTIONS = {
  weights: { type: 'string' },
  size: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  ...NNUNET_OPTIONS,
} as const;

export async function info(args: string[]): Promise<number> {
  const { args: rest, folds } = takeFolds('info', args);
  const v = parseCommandArgs('info', rest, OPTIONS);
  if (v.help) {
    process.stdout.write(INFO_USAGE);
    return 0;
  }
  const nnunet = nnunetChoice('info', folds, v);
  if (nnunet && v.weights === undefined) throw new UsageError('info: --folds, --checkpoint and --configuration go with --weights RESULTS_FOLDER');
  if (v.size !== undefined && v.weights === undefined) throw new UsageError('info: --size goes with --weights');
  const size = v.size === undefined ? undefined : parseSize(v.size);
  const modelArg = v.weights !== undefined ? await readWeightsArg(v.weights, DEFAULT_LIMITS, process.stderr, nnunet, 'info') : undefined;
  try {
    const device = await getDevice(); // NoAdapterError: one line, printed by main
    try {
      if (modelArg) {
        const model = await openModel(device, modelArg, {}, (line) => process.stderr.write(`${line}\n`));
        try {
          const m = describeModel(model, modelArg.config !== undefined, { text: modelArg.config, name: modelArg.configName ?? modelArg.name });
          const shape = size && [1, model.info.inChannels, ...size];
          const path = shape && model.runPath(shape);
          const runPath = shape && path && { shape, path: path.path, why: path.why, gpuBytes: path.estimate.totalBytes };
          if (v.json) process.stdout.write(`${JSON.stringify(runPath ? { ...m, runPath } : m)}\n`);
          else process.stdout.write(`${formatModel(m)}${runPath ? `run path at [${runPath.shape}]: ${runPath.path} (${runPath.why})\n` : ''}`);
        } finally {
          model.dispose();
        }
      } else {
        const d = describeDevice(device);
        process.stdout.write(v.json ? `${JSON.stringify(d)}\n` : formatInfo(d));
      }
    } finally {
      device.destroy();
    }
  } finally {
    releaseGpu();
  }
  return 0;
}

/** --size: HxW or DxHxW, positive integers. */
function parseSize(text: string): number[] {
  const parts = text.split('x');
  const dims = parts.map(Number);
  if ((parts.length !== 2 && parts.length !== 3) || !dims.every((d) => Number.isSafeInteger(d) && d > 0))
    throw new UsageError(`info: --size is ${JSON.stringify(text)}, expected HxW or DxHxW of positive integers (e.g. 2400x1800)`);
  return dims;
}

function formatInfo(d: AdapterSummary): string {
  const or = (s: string) => s || '(not reported)';
  const lines = [`adapter:      ${or(d.description)}`, `vendor:       ${or(d.vendor)}`, `architecture: ${or(d.architecture)}`];
  if (d.device) lines.push(`device:       ${d.device}`);
  lines.push(`features (${d.features.length}): ${d.features.join(', ') || '(none)'}`);
  lines.push(`limits:`);
  const width = Math.max(0, ...Object.keys(d.limits).map((k) => k.length));
  for (const [name, value] of Object.entries(d.limits)) {
    lines.push(`  ${name.padEnd(width)}  ${value}${/Size$/.test(name) ? bytesHint(value) : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

/** " (2 GiB)" for the byte-size limits large enough for a unit to help. */
function bytesHint(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u < 1 ? '' : ` (${Number(v.toFixed(1))} ${units[u]})`;
}
