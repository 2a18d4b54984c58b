// `unet serve`: an HTTP service on Node's http module, one model on one GPU. A request's body is read
// within maxInputBytes, decoded within maxPixels (the library's readers), made into the model's input as
// model.segment makes it (imageTensor), and queued (serveBatch.ts): images of the same size that arrive
// within --batch-window-ms run as one model.run of [N, C, H, W], whose output is split back per image and
// read as model.segment reads it (readOutput), so a batched answer is the answer of a single run. The
// mask PNG is encoded as `unet segment` encodes NAME_mask.png / NAME_labels.png. Every error is a JSON
// body {error: {code, message}} with its status and never a stack; SIGTERM stops accepting, lets the
// requests in flight finish, then exits. Arguments and help: serveArgs.ts; HTTP plumbing: serveHttp.ts.
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AbortError, InputError, UnsupportedError } from '../errors.js';
import { classColors, isMultiClass } from '../io/classes.js';
import { type Image, decodeImage, sniff } from '../io/image.js';
import { readNifti, type Volume } from '../io/nifti.js';
import type { Normalization } from '../io/preprocess.js';
import { encodePalettePng, encodePng } from '../io/png.js';
import { probs16 } from '../io/render.js';
import { LimitError, printable } from '../limits.js';
import { getDevice, releaseGpu, type Model, type TensorData } from '../node.js';
import { imageTensor, readOutput, type SegmentResult } from '../segment.js';
import { type VolumeSegmentResult, segmentVolume } from '../volume.js';
import { CliError } from './errors.js';
import { openModel, readWeightsArg } from './model.js';
import { describeModel } from './modelInfo.js';
import { Batcher, QueueFullError } from './serveBatch.js';
import { type ServeArgs, SERVE_USAGE, parseServeArgs } from './serveArgs.js';
import { HttpError, Metrics, bearerMatches, multipartFile, readBody, sendError, sendJson } from './serveHttp.js';
import { volumeFiles } from './segmentOutputs.js';

export { SERVE_USAGE };

/** What waits in the queue: an image's model input, or a volume (run alone, slice by slice). */
type Work = { kind: 'image'; input: TensorData } | { kind: 'volume'; volume: Volume };
type Done = { kind: 'image'; output: Float32Array } | { kind: 'volume'; result: VolumeSegmentResult };

/** A running service: its address, and stop() for a graceful shutdown (what SIGTERM does). */
export interface Service {
  url: string;
  stop(): Promise<void>;
  /** settles when the service has stopped */
  closed: Promise<void>;
}

/** `unet serve`: runs until SIGTERM / SIGINT, then exits 0 once the requests in flight are answered. */
export async function serve(args: string[]): Promise<number> {
  const a = parseServeArgs(args);
  if (a === undefined) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  const service = await startService(a, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(
    `unet serve: listening on ${service.url} (max batch ${a.maxBatch}, window ${a.batchWindowMs} ms, queue ${a.maxQueue}${a.apiKey ? ', API key required' : ''})\n`,
  );
  const stop = () => {
    process.stderr.write('unet serve: stopping: finishing the requests in flight\n');
    void service.stop();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await service.closed;
  process.stderr.write('unet serve: stopped\n');
  return 0;
}

/** Loads the model and listens; `log` takes the one-line reports of unexpected (500) errors. */
export async function startService(a: ServeArgs, log: (line: string) => void): Promise<Service> {
  const modelArg = await readWeightsArg(a.weights, a.limits, process.stderr, undefined, 'serve');
  const device = await getDevice();
  let model: Model;
  try {
    model = await openModel(device, modelArg, { activation: a.activation }, log);
  } catch (e) {
    device.destroy();
    releaseGpu();
    throw e;
  }
  const release = () => {
    model.dispose();
    device.destroy();
    releaseGpu();
  };
  if (model.info.family === 'nnunet' || model.info.dims === 3) {
    release();
    throw new CliError(`${modelArg.name}: unet serve runs 2D image models; an nnU-Net or 3D model's cases go through unet predict or unet segment`);
  }
  const info = describeModel(model, modelArg.config !== undefined, { text: modelArg.config, name: modelArg.configName ?? modelArg.name });
  const norm = a.norm ?? model.info.preprocessing;
  const multiClass = isMultiClass(model.info);

  let inFlight = 0;
  let stopping = false;
  const metrics = new Metrics(a.maxBatch, () => ({ queueDepth: batcher.depth, inFlight }));
  const batcher = new Batcher<Work, Done>({
    maxBatch: a.maxBatch,
    windowMs: a.batchWindowMs,
    maxQueue: a.maxQueue,
    run: (work) => runBatch(model, work, a, norm),
    onBatch: (size, seconds) => metrics.batch(size, seconds),
  });

  const server = createServer({ requestTimeout: a.timeoutMs + 5_000 }, (req, res) => {
    const t0 = performance.now();
    const route = routeOf(req.url);
    inFlight++;
    handle(req, res, route)
      .catch((e: unknown) => {
        const err = httpErrorOf(e);
        if (err.status >= 500 && err.code === 'internal') log(`unet serve: ${req.method} ${route}: ${(e as Error)?.message?.split('\n')[0] ?? String(e)}`);
        sendError(res, err);
      })
      .finally(() => {
        inFlight--;
        metrics.request(route, res.statusCode, (performance.now() - t0) / 1000);
        if (stopping) checkDrained();
      });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, route: string): Promise<void> {
    if (route === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET');
      if (stopping) throw new HttpError(503, 'shutting_down', 'the service is shutting down', { connection: 'close' });
      return sendJson(res, 200, { status: 'ok' });
    }
    if (a.apiKey !== undefined && !bearerMatches(req.headers.authorization, a.apiKey)) {
      throw new HttpError(401, 'unauthorized', 'missing or wrong API key: send Authorization: Bearer KEY', { 'www-authenticate': 'Bearer' });
    }
    if (route === '/metrics') {
      if (req.method !== 'GET') throw methodNotAllowed('GET');
      const text = metrics.text();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      return void res.end(text);
    }
    if (route === '/v1/model') {
      if (req.method !== 'GET') throw methodNotAllowed('GET');
      return sendJson(res, 200, info);
    }
    if (route !== '/v1/segment')
      throw new HttpError(404, 'not_found', `no route ${printable(req.url ?? '').slice(0, 200)} (POST /v1/segment, GET /healthz, /v1/model, /metrics)`);
    if (req.method !== 'POST') throw methodNotAllowed('POST');
    if (stopping) throw new HttpError(503, 'shutting_down', 'the service is shutting down', { connection: 'close' });
    const query = parseQuery(req.url ?? '');
    const signal = AbortSignal.timeout(a.timeoutMs);
    let body = await readBody(req, a.limits.maxInputBytes);
    const type = req.headers['content-type'] ?? '';
    if (/^multipart\/form-data/i.test(type)) body = multipartFile(body, type);
    if (body.length === 0) throw new HttpError(400, 'bad_request', 'empty body: send the image bytes (PNG, JPEG, NIfTI) or multipart/form-data');
    const kind = sniff(body);
    if (kind === 'nifti' || kind === 'nifti-gz') {
      const volume = inputErrors(() => readNifti(body, { limits: a.limits }));
      const done = await queued(batcher.submit(`volume:${Math.random()}`, { kind: 'volume', volume }, signal), signal);
      if (done.kind !== 'volume') throw new Error('a volume got an image result');
      return answerVolume(res, volume, done.result, kind === 'nifti-gz', query);
    }
    if (kind !== 'png' && kind !== 'jpeg') throw new HttpError(415, 'unsupported_media_type', 'the body is not a PNG, JPEG or NIfTI (.nii, .nii.gz) file');
    const img = inputErrors(() => decodeImage(body, { limits: a.limits }));
    const { input, notes } = inputErrors(() => imageTensor(img, model.info.inChannels, norm));
    const done = await queued(batcher.submit(input.shape.join('x'), { kind: 'image', input }, signal), signal);
    if (done.kind !== 'image') throw new Error('an image got a volume result');
    const r = { ...readOutput(done.output, img.width, img.height, model.info, a.threshold), notes };
    answerImage(res, img, r, multiClass, query);
  }

  // --- shutdown: stop accepting; once the requests in flight are answered, close the connections and free the GPU
  let drained!: () => void;
  const closed = new Promise<void>((r) => (drained = r));
  let stopped = false;
  function checkDrained(): void {
    if (stopped || inFlight > 0) return;
    stopped = true;
    void batcher.idle().then(() => {
      server.closeAllConnections();
      release();
      drained();
    });
  }
  const stop = async () => {
    if (!stopping) {
      stopping = true;
      server.close();
      server.closeIdleConnections();
      checkDrained();
    }
    await closed;
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      release();
      reject(new CliError(`serve: cannot listen on ${a.host}:${a.port} (${e.code ?? e.message})`));
    });
    server.listen(a.port, a.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { url: `http://${host}:${address.port}`, stop, closed };
}

/** Runs one batch: images of one size as one model.run of [N, C, H, W], split per image; a volume alone. */
async function runBatch(model: Model, work: Work[], a: ServeArgs, norm: Normalization): Promise<Done[]> {
  const first = work[0];
  if (first.kind === 'volume') {
    const result = await segmentVolume(model, first.volume, { axis: 2, normalization: norm, threshold: a.threshold, run: { pad: a.pad } });
    return [{ kind: 'volume', result }];
  }
  const inputs = work.map((w) => (w as Extract<Work, { kind: 'image' }>).input);
  const [, C, H, W] = first.input.shape;
  const data = new Float32Array(inputs.length * C * H * W);
  for (const [i, x] of inputs.entries()) data.set(x.data, i * C * H * W);
  const y = await model.run({ data, shape: [inputs.length, C, H, W] }, { pad: a.pad });
  const per = y.data.length / inputs.length;
  return inputs.map((_, i) => ({ kind: 'image', output: y.data.subarray(i * per, (i + 1) * per) }));
}

type Query = { json: boolean; probs: boolean };

/** ?format=png|json and ?probs=0|1; anything else is a 400. */
function parseQuery(url: string): Query {
  const params = new URL(url, 'http://localhost').searchParams;
  const format = params.get('format') ?? 'png';
  if (format !== 'png' && format !== 'json')
    throw new HttpError(400, 'bad_request', `format must be png or json, found ${JSON.stringify(format.slice(0, 50))}`);
  const probs = params.get('probs') ?? '0';
  if (!/^(0|1|true|false)$/.test(probs)) throw new HttpError(400, 'bad_request', `probs must be 0 or 1, found ${JSON.stringify(probs.slice(0, 50))}`);
  const wantProbs = probs === '1' || probs === 'true';
  if (wantProbs && format !== 'json' && params.has('format'))
    throw new HttpError(400, 'bad_request', 'probs=1 needs format=json (a PNG answer holds the mask only)');
  return { json: format === 'json' || wantProbs, probs: wantProbs };
}

function answerImage(res: ServerResponse, img: Image, r: Omit<SegmentResult, 'tiling'>, multiClass: boolean, q: Query): void {
  const { width, height } = img;
  const n = width * height;
  const maskPng = (m: Uint8Array) => encodePng({ width, height, channels: 1, data: m.map((v) => 255 * v) });
  // the encodings of unet segment's NAME_labels.png and NAME_mask.png (segmentOutputs.ts imageFiles)
  const labels = multiClass
    ? encodePalettePng(
        width,
        height,
        r.mask,
        classColors(r.classes).map((c) => c.rgb),
      )
    : maskPng(r.mask);
  if (!q.json) {
    res.writeHead(200, { 'content-type': 'image/png', 'content-length': labels.length });
    return void res.end(labels);
  }
  const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
  sendJson(res, 200, {
    width,
    height,
    classes: r.classes,
    kind: r.kind,
    foreground: r.foreground,
    labels: b64(labels),
    ...(!multiClass && r.masks && r.masks.length > 1 ? { masks: r.masks.map((m) => b64(maskPng(m))) } : {}),
    ...(q.probs
      ? { probabilities: Array.from({ length: r.classes }, (_, c) => b64(encodePng({ width, height, channels: 1, data: probs16(r.probabilities, c, n) }))) }
      : {}),
    notes: r.notes,
  });
}

function answerVolume(res: ServerResponse, vol: Volume, r: VolumeSegmentResult, gz: boolean, q: Query): void {
  const files = [...volumeFiles(vol, r, 'input', gz, q.probs)];
  const labels = files[0][1]; // input_mask or input_labels: the first of the set
  if (!q.json) {
    res.writeHead(200, { 'content-type': gz ? 'application/gzip' : 'application/octet-stream', 'content-length': labels.length });
    return void res.end(labels);
  }
  const b64 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('base64');
  sendJson(res, 200, {
    dims: r.dims,
    classes: r.classes,
    kind: r.kind,
    foreground: r.foreground,
    labels: b64(labels),
    ...(q.probs ? { probabilities: files.filter(([f]) => /_probs/.test(f)).map(([, b]) => b64(b)) } : {}),
    notes: r.notes,
  });
}

/** The path of a request's URL, for routing and the metrics' route label (unknown paths lumped as 'other'). */
function routeOf(url: string | undefined): string {
  const path = (url ?? '').split('?')[0];
  return ['/healthz', '/metrics', '/v1/model', '/v1/segment'].includes(path) ? path : 'other';
}

const methodNotAllowed = (allow: string) => new HttpError(405, 'method_not_allowed', `use ${allow}`, { allow });

/** The input's problems as 4xx: over a limit 413, undecodable 400, not for this model 422. */
function inputErrors<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw httpErrorOf(e);
  }
}

/** Waits for a queued job; the timeout's abort becomes 503. */
async function queued<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (signal.aborted) throw new HttpError(503, 'timeout', 'the request was not answered within --timeout-ms', { 'retry-after': '1' });
    throw e;
  }
}

/** Any error as the HTTP error the client gets; unexpected ones are 500 with a generic message. */
function httpErrorOf(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof QueueFullError) return new HttpError(429, 'queue_full', e.message, { 'retry-after': String(e.retryAfterSeconds) });
  if (e instanceof LimitError) return new HttpError(413, 'too_large', e.message.replace(/\(raise limits\.(\w+)\)/, '(the service limit $1)'));
  if (e instanceof AbortError) return new HttpError(503, 'timeout', 'the request was not answered within --timeout-ms');
  const name = (e as Error)?.name;
  if (name === 'ImageError' || name === 'NiftiError') return new HttpError(400, 'invalid_image', (e as Error).message.replace(/^(image|input): /, ''));
  if (e instanceof InputError || e instanceof UnsupportedError)
    return new HttpError(422, 'unprocessable_image', (e as Error).message.replace(/^(image|input): /, ''));
  if ((e as NodeJS.ErrnoException)?.code === 'ECONNRESET' || (e as NodeJS.ErrnoException)?.code === 'ERR_STREAM_PREMATURE_CLOSE')
    return new HttpError(400, 'bad_request', 'the request body ended early');
  return new HttpError(500, 'internal', 'internal error (logged by the service)');
}
