// The `unet` command: dispatches to a subcommand, prints every error as one line on stderr
// (`unet: ...`; UNET_DEBUG=1 adds the stack), and exits explicitly, since Dawn can otherwise keep the
// process alive. The subcommands are imported on demand so `--help` and `--version` stay instant.
import { closest, didYouMean } from '../errors.js';
import { UsageError, exitCodeOf, formatError } from './errors.js';
import { ENGINE_NAME, ENGINE_VERSION } from './package.js';

type Command = { summary: string; run(args: string[]): Promise<number> };

const COMMANDS: Record<string, Command> = {
  convert: {
    summary: 'convert a PyTorch checkpoint (.pt, zip or legacy format) to safetensors, or an nnU-Net results folder to a model folder, executing nothing',
    run: async (args) => (await import('./convert.js')).convert(args),
  },
  infer: {
    summary: 'run a U-Net (safetensors state_dict, smp or nnU-Net folder) on an NCHW / NCDHW tensor and write its output',
    run: async (args) => (await import('./infer.js')).infer(args),
  },
  info: {
    summary: 'show the WebGPU adapter, its features and limits; with --weights, the model',
    run: async (args) => (await import('./info.js')).info(args),
  },
  segment: {
    summary: 'segment PNG / JPEG images and NIfTI volumes: masks, overlays, probabilities',
    run: async (args) => (await import('./segment.js')).segment(args),
  },
  predict: {
    summary: "predict NIfTI cases with an nnU-Net results folder, taking nnUNetv2_predict's flags (-i -o -m -f ...)",
    run: async (args) => (await import('./predict.js')).predict(args),
  },
  bench: {
    summary: 'time the U-Net forward at several sizes (and PyTorch CPU beside it)',
    run: async (args) => (await import('./bench.js')).bench(args),
  },
  serve: {
    summary: 'an HTTP service: POST /v1/segment an image, get its mask (batching, queue bound, /metrics)',
    run: async (args) => (await import('./serve.js')).serve(args),
  },
  tune: {
    summary: 'measure kernel configurations on this adapter and cache the fastest',
    run: async (args) => (await import('./tune.js')).tune(args),
  },
  queue: {
    summary: 'a work queue on Redis (BullMQ): add one job per input, see status, retry failed jobs, drain',
    run: async (args) => (await import('./queue.js')).queue(args),
  },
  worker: {
    summary: "process a queue's jobs (one worker per GPU): the files unet segment writes, atomically",
    run: async (args) => (await import('./worker.js')).worker(args),
  },
};

const NAMES = Object.keys(COMMANDS).join(', ');

const USAGE = `unet: U-Net segmentation inference on WebGPU (${ENGINE_NAME} ${ENGINE_VERSION})

Usage:
  unet infer --weights W --input X.safetensors --out Y.safetensors [options]
  unet info [--json]
  unet info --weights W [--json]
  unet convert CHECKPOINT.pt -o OUT.safetensors [--key KEY]
  unet convert RESULTS_FOLDER|ZIP|checkpoint_final.pth -o OUTDIR [--folds 0 1 ...] [--checkpoint NAME]
  unet segment IMAGES_OR_FOLDERS... --weights W --out-dir DIR [options]
  unet predict -i IN -o OUT -m RESULTS_FOLDER [-f 0 1 ...] [-step_size 0.5] [--disable_tta] [--save_probabilities]
  unet serve --weights W [--port 8080] [--host 127.0.0.1] [--api-key KEY] [--max-batch 8]
  unet bench [--sizes 128,256,512] [--batches 1,4] [--json]
  unet tune [--size 256] [--weights W]
  unet queue add|status|retry-failed|drain --redis URL --queue NAME ...
  unet worker --redis URL --queue NAME [--concurrency 1]
  unet <command> --help
  unet --version                  (or -V)

W: a safetensors state_dict, an smp save_pretrained folder (config.json + model.safetensors), or an
nnU-Net results folder (a trainer folder, its Dataset... folder, or the .zip nnUNetv2_export_model_to_zip
writes; --folds, --checkpoint and --configuration choose from it, as nnUNetv2_predict's -f, -chk and -c).

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(7)} ${c.summary}`)
  .join('\n')}

Errors are one line on stderr; exit code 1, or 2 for a bad command line.
Environment: UNET_DEBUG=1 prints stack traces with errors; UNET_WRITE_PAUSE_MS=N makes segment wait
N ms after each temporary output file (to test an interrupted write).
`;

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    // `unet help infer` is `unet infer --help`
    if (first === 'help' && rest.length > 0) return main([rest[0], '--help']);
    process.stdout.write(USAGE);
    return 0;
  }
  if (first === '--version' || first === '-V' || first === '-v') {
    process.stdout.write(`${ENGINE_NAME} ${ENGINE_VERSION}\n`);
    return 0;
  }
  if (first.startsWith('-')) {
    const guess = didYouMean(first.replace(/^-+/, ''), ['help', 'version'], '--');
    throw new UsageError(`unknown option ${first}${guess || ' (options go after the command; see unet --help)'}`);
  }
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (!command) {
    const guess = closest(first, Object.keys(COMMANDS));
    throw new UsageError(`unknown command ${JSON.stringify(first)}${guess ? `; did you mean ${guess}?` : ''} (commands: ${NAMES}; see unet --help)`);
  }
  return command.run(rest);
}

/** Exits once stdout and stderr have taken everything written to them. */
function exit(code: number): void {
  process.exitCode = code;
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

main(process.argv.slice(2)).then(exit, (e: unknown) => {
  process.stderr.write(`${formatError(e)}\n`);
  exit(exitCodeOf(e));
});
