// `unet serve`'s HTTP plumbing on Node's http module: errors as JSON bodies with their status, request
// bodies read within a byte limit, multipart/form-data's file part, and the Prometheus text of /metrics.
// Nothing here knows the model.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { formatBytes } from '../limits.js';

/** An error the client gets as `{error: {code, message}}` with this status (and headers, e.g. Retry-After). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Sends a JSON body; the connection closes after an error whose body was not read (Node drains nothing by itself). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The error's JSON body: its code and one-line message, never a stack. */
export function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.status, { error: { code: e.code, message: e.message.split('\n')[0] } }, e.headers);
}

/**
 * The request body, at most `maxBytes`: a Content-Length over it is refused before a byte is read, and a
 * chunked body is refused as soon as it passes it (413, the connection then closed).
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const tooLarge = (what: string) =>
    new HttpError(413, 'payload_too_large', `request body: ${what}, more than the limit of ${formatBytes(maxBytes)} (maxInputBytes)`, { connection: 'close' });
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(`${formatBytes(Number(declared))}`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw tooLarge(`over ${formatBytes(total)}`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, total);
}

/**
 * The file in a multipart/form-data body (RFC 7578): the part named `image` or `file`, else the first part
 * with a filename, else the only part. Its bytes are a view of `body`.
 */
export function multipartFile(body: Buffer, contentType: string): Buffer {
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw new HttpError(400, 'bad_request', 'multipart/form-data without a boundary parameter');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { name?: string; filename?: string; data: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break; // the close delimiter
    const headersEnd = body.indexOf('\r\n\r\n', start);
    if (headersEnd < 0) break;
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headersEnd + 4);
    if (next < 0) throw new HttpError(400, 'bad_request', 'multipart/form-data body ends inside a part (no closing boundary)');
    const headers = body.subarray(start, headersEnd).toString('latin1');
    const disposition = /content-disposition:([^\r\n]*)/i.exec(headers)?.[1] ?? '';
    parts.push({
      name: /\bname="([^"]*)"/i.exec(disposition)?.[1],
      filename: /\bfilename="([^"]*)"/i.exec(disposition)?.[1],
      data: body.subarray(headersEnd + 4, next),
    });
    at = next + 2;
  }
  const part =
    parts.find((p) => p.name === 'image' || p.name === 'file') ?? parts.find((p) => p.filename !== undefined) ?? (parts.length === 1 ? parts[0] : undefined);
  if (!part) throw new HttpError(400, 'bad_request', `multipart/form-data: no part named image or file among ${parts.length} parts`);
  return part.data;
}

/** Whether `Authorization: Bearer KEY` names `key`; compared in constant time (hashes of equal length). */
export function bearerMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1].trim()), digest(key));
}

// --- /metrics

/** A Prometheus histogram: cumulative bucket counts, sum and count. */
class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (const [i, b] of this.bounds.entries()) if (v <= b) this.counts[i]++;
  }
  lines(name: string): string[] {
    return [
      ...this.bounds.map((b, i) => `${name}_bucket{le="${b}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${round(this.sum)}`,
      `${name}_count ${this.count}`,
    ];
  }
}

const round = (v: number) => Math.round(v * 1e6) / 1e6;

/** What /metrics reports: requests by status, latency, queue depth, batch sizes, GPU time. */
export class Metrics {
  private readonly requests = new Map<string, number>();
  readonly latency = new Histogram([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  readonly batchSize: Histogram;
  gpuSeconds = 0;
  images = 0;

  constructor(
    maxBatch: number,
    private readonly gauges: () => { queueDepth: number; inFlight: number },
  ) {
    const bounds: number[] = [];
    for (let b = 1; b < maxBatch; b *= 2) bounds.push(b);
    this.batchSize = new Histogram([...bounds, maxBatch]);
  }

  request(route: string, status: number, seconds: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    if (route === '/v1/segment') this.latency.observe(seconds);
  }

  batch(size: number, gpuSeconds: number): void {
    this.batchSize.observe(size);
    this.gpuSeconds += gpuSeconds;
    this.images += size;
  }

  text(): string {
    const g = this.gauges();
    const block = (name: string, type: string, help: string, lines: string[]) => [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines];
    return `${[
      ...block(
        'unet_requests_total',
        'counter',
        'HTTP requests answered, by route and status.',
        [...this.requests].map(([k, n]) => `unet_requests_total{${k}} ${n}`),
      ),
      ...block(
        'unet_request_duration_seconds',
        'histogram',
        'Time from a segment request to its response.',
        this.latency.lines('unet_request_duration_seconds'),
      ),
      ...block('unet_queue_depth', 'gauge', 'Images waiting for the GPU.', [`unet_queue_depth ${g.queueDepth}`]),
      ...block('unet_requests_in_flight', 'gauge', 'Segment requests being read, queued, run or answered.', [`unet_requests_in_flight ${g.inFlight}`]),
      ...block('unet_batch_size', 'histogram', 'Images per model run.', this.batchSize.lines('unet_batch_size')),
      ...block('unet_gpu_seconds_total', 'counter', 'Seconds spent in model runs (upload, GPU, readback).', [
        `unet_gpu_seconds_total ${round(this.gpuSeconds)}`,
      ]),
      ...block('unet_images_total', 'counter', 'Images segmented.', [`unet_images_total ${this.images}`]),
    ].join('\n')}\n`;
  }
}
