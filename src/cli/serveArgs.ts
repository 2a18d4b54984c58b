// `unet serve`'s command line: its help text and its options, checked into plain settings.
import { parseNormalization, type Normalization } from '../io/preprocess.js';
import { type OutputActivation, checkPadMode, type PadMode } from '../ir/types.js';
import { resolveLimits, type Limits } from '../limits.js';
import { parseCommandArgs, required } from './args.js';
import { UsageError } from './errors.js';
import { LIMITS_USAGE, LIMIT_OPTIONS, limitsFromArgs } from './limits.js';
import { ACTIVATION_HELP, parseActivation, weightsHelp } from './model.js';

export const SERVE_USAGE = `Usage: unet serve --weights W [--port 8080] [--host 127.0.0.1] [options]

An HTTP service segmenting images with one model on this machine's GPU (Node's http module; put a
TLS-terminating proxy in front of it for other machines).

  POST /v1/segment      the body is an image (PNG, JPEG) or a NIfTI volume (.nii, .nii.gz), as bytes
                        or as multipart/form-data (the part named image or file, else the first file).
                        Answers the mask PNG (mask models: 0 / 255, the first output channel;
                        multi-class models: the class index per pixel, an indexed-colour PNG), the
                        same bytes unet segment writes to NAME_mask.png / NAME_labels.png; for a
                        volume the mask NIfTI (NAME_mask.nii[.gz] / NAME_labels.nii[.gz]).
                        ?format=json: {width, height, classes, kind, foreground, labels: base64 PNG,
                        masks: base64 PNG per output channel (several channels)}; &probs=1 adds
                        probabilities: base64 16-bit PNG per channel (volumes: float32 NIfTI)
  GET  /healthz         {"status":"ok"} (503 while shutting down); needs no key
  GET  /v1/model        the model's info (unet info --weights W --json)
  GET  /metrics         Prometheus text: requests by route and status, latency histogram, queue
                        depth, batch sizes, GPU seconds
Errors are {"error": {"code", "message"}} with a 4xx / 5xx status: 400 malformed body, 401 missing
or wrong key, 404 / 405, 413 body or image over the limits, 415 not an image, 422 an image the
model cannot take, 429 queue full (with Retry-After), 503 timed out or shutting down.

Options:
  --weights PATH        ${weightsHelp()}
  --host HOST           address to listen on (default 127.0.0.1: this machine only)
  --port P              port (default 8080; 0 picks a free one, printed on stdout)
  --api-key KEY         requests must carry Authorization: Bearer KEY (default: $UNET_API_KEY if
                        set, which keeps the key out of the process list; else no key)
  --max-batch N         most same-size images run as one batch (default 8; 1: no batching)
  --batch-window-ms MS  how long an image waits for others of its size (default 5)
  --max-queue N         most images waiting for the GPU; more get 429 (default 64)
  --timeout-ms MS       a request not answered by then gets 503 (default 30000)
  --threshold T         mask models: threshold on the probability (default 0.5)
  --normalize MODE      model (default), zscore, none, imagenet or MEAN,STD (as unet segment)
  --activation F        ${ACTIVATION_HELP}
  --pad MODE            padding to multiples of 16: reflect (default) or zero
  -h, --help            show this help

${LIMITS_USAGE}--max-input-mib bounds a request body, --max-pixels an image (checked from its header).
SIGTERM / SIGINT stop accepting connections, finish the requests in flight, then exit 0.
`;

const OPTIONS = {
  weights: { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8080' },
  'api-key': { type: 'string' },
  'max-batch': { type: 'string', default: '8' },
  'batch-window-ms': { type: 'string', default: '5' },
  'max-queue': { type: 'string', default: '64' },
  'timeout-ms': { type: 'string', default: '30000' },
  threshold: { type: 'string', default: '0.5' },
  normalize: { type: 'string', default: 'model' },
  activation: { type: 'string' },
  pad: { type: 'string', default: 'reflect' },
  help: { type: 'boolean', short: 'h' },
  ...LIMIT_OPTIONS,
} as const;

export interface ServeArgs {
  weights: string;
  host: string;
  port: number;
  apiKey?: string;
  maxBatch: number;
  batchWindowMs: number;
  maxQueue: number;
  timeoutMs: number;
  threshold: number;
  /** undefined: the model's own */
  norm?: Normalization;
  activation?: OutputActivation;
  pad: PadMode;
  limits: Limits;
}

/** A whole number option within [min, max]. */
function whole(name: string, text: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(text);
  if (!/^\s*\d+\s*$/.test(text ?? '') || v < min || v > max)
    throw new UsageError(
      `serve: --${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}, found ${JSON.stringify(text)}`,
    );
  return v;
}

/** Parses `unet serve`'s arguments; undefined for --help. */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv = process.env): ServeArgs | undefined {
  const v = parseCommandArgs('serve', args, OPTIONS);
  if (v.help) return undefined;
  const threshold = Number(v.threshold);
  if (!/^\s*[\d.]+\s*$/.test(v.threshold ?? '') || !(threshold >= 0 && threshold <= 1))
    throw new UsageError(`serve: --threshold must be a number from 0 to 1, found ${JSON.stringify(v.threshold)}`);
  const norm = v.normalize === 'model' ? undefined : parseNormalization(v.normalize ?? '');
  if (!norm && v.normalize !== 'model')
    throw new UsageError(`serve: --normalize must be model, zscore, none, imagenet or MEAN,STD (STD > 0), found ${JSON.stringify(v.normalize)}`);
  let pad: PadMode;
  try {
    pad = checkPadMode(v.pad, '--pad');
  } catch (e) {
    throw new UsageError(`serve: ${(e as Error).message}`);
  }
  const apiKey = v['api-key'] ?? (env.UNET_API_KEY || undefined);
  if (apiKey !== undefined && !/^[\x21-\x7e]+$/.test(apiKey)) throw new UsageError('serve: --api-key must be printable ASCII without spaces');
  const host = v.host ?? '127.0.0.1';
  if (host === '') throw new UsageError('serve: --host is empty');
  return {
    weights: required('serve', 'weights', v.weights),
    host,
    port: whole('port', v.port, 0, 65535),
    ...(apiKey !== undefined ? { apiKey } : {}),
    maxBatch: whole('max-batch', v['max-batch'], 1, 256),
    batchWindowMs: whole('batch-window-ms', v['batch-window-ms'], 0, 60_000),
    maxQueue: whole('max-queue', v['max-queue'], 1),
    timeoutMs: whole('timeout-ms', v['timeout-ms'], 1),
    threshold,
    norm,
    activation: parseActivation('serve', v.activation),
    pad,
    limits: resolveLimits(limitsFromArgs('serve', v)),
  };
}
