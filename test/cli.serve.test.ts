// `unet serve` as a client sees it, on 127.0.0.1 with a tiny model (gray: brain U-Net 1 -> 1, init_features 4):
// 100 requests, at most 16 in flight, all equal to the masks `unet segment` writes; batches of several
// images in /metrics; a full queue answers 429 with Retry-After; malformed bodies, a wrong key and oversized
// images get their 4xx as {error: {code, message}}; SIGTERM lets the requests in flight finish. A model.run
// batch of N images equals N single runs, and the queue (serveBatch.ts) groups by size without a GPU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../src/io/image.js';
import { encodePng } from '../src/io/png.js';
import { loadModel } from '../src/node.js';
import { imageTensor } from '../src/segment.js';
import { Batcher, QueueFullError } from '../src/cli/serveBatch.js';
import { ROOT, tempDirs, unet } from './cliRun.js';
import { testDevice } from './helpers.js';

const GRAY = 'test/fixtures/gray.weights.safetensors';
const KEY = 'test-key-0123';
const tmp = tempDirs('unet-serve-');

/** A gray image whose pixels follow a seed. */
function grayPng(width: number, height: number, seed: number): Uint8Array {
  const data = new Uint8Array(width * height);
  let s = (seed + 1) * 2654435761;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 24) ^ ((i % width) * 5);
  }
  return encodePng({ width, height, channels: 1, data });
}

interface Server {
  url: string;
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
}

/** Starts `unet serve --port 0 ...` and waits for the address it prints. */
async function startServer(...args: string[]): Promise<Server> {
  const child = spawn(process.execPath, ['bin/unet.js', 'serve', '--weights', GRAY, '--port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env, UNET_DEBUG: '', UNET_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`unet serve exited ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`unet serve did not start: ${out} ${err}`)), 60_000).unref();
  });
  return { url, child, stderr: () => err, exited };
}

async function stopServer(s: Server): Promise<number | null> {
  s.child.kill('SIGTERM');
  return s.exited;
}

const auth = { authorization: `Bearer ${KEY}` };

async function post(
  url: string,
  body: Uint8Array | string,
  headers: Record<string, string> = auth,
): Promise<{ status: number; headers: Headers; bytes: Uint8Array }> {
  const r = await fetch(url, { method: 'POST', body: typeof body === 'string' ? body : new Uint8Array(body), headers });
  return { status: r.status, headers: r.headers, bytes: new Uint8Array(await r.arrayBuffer()) };
}

/** Asserts a JSON error body with this status and code, and no stack trace. */
function assertError(r: { status: number; bytes: Uint8Array }, status: number, code: string): void {
  const text = new TextDecoder().decode(r.bytes);
  assert.is(r.status, status, text);
  const body = JSON.parse(text);
  assert.is(body.error.code, code, text);
  assert.type(body.error.message, 'string');
  assert.not.match(body.error.message, /\n|\bat .*\.ts:\d+/, 'one line, no stack');
}

/** Runs `count` tasks with at most `limit` in flight. */
async function bounded<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await task(i);
      }
    }),
  );
  return out;
}

/** A metric's value from Prometheus text. */
const metric = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"=+.]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

// ---

const Queue = suite('serve: the queue (no GPU)');

Queue('same-size jobs within the window run as one batch, others apart; a full queue refuses at once', async () => {
  const batches: string[][] = [];
  const b = new Batcher<string, string>({
    maxBatch: 4,
    windowMs: 30,
    maxQueue: 5,
    run: async (inputs, key) => {
      batches.push(inputs.map((i) => `${key}:${i}`));
      await new Promise((r) => setTimeout(r, 10));
      return inputs.map((i) => i.toUpperCase());
    },
  });
  const jobs = [b.submit('s', 'a'), b.submit('t', 'b'), b.submit('s', 'c'), b.submit('s', 'd'), b.submit('t', 'e')];
  try {
    await b.submit('s', 'f');
    assert.unreachable('a sixth job accepted');
  } catch (e) {
    assert.instance(e, QueueFullError);
    assert.ok((e as QueueFullError).retryAfterSeconds >= 1);
  }
  assert.equal(await Promise.all(jobs), ['A', 'B', 'C', 'D', 'E']);
  assert.equal(batches, [
    ['s:a', 's:c', 's:d'],
    ['t:b', 't:e'],
  ]);
  const controller = new AbortController();
  const late = b.submit('u', 'g', controller.signal);
  controller.abort(new Error('gave up'));
  await late.then(
    () => assert.unreachable('aborted job resolved'),
    (e: Error) => assert.is(e.message, 'gave up'),
  );
  await b.idle();
  assert.is(b.depth, 0);
});

Queue.run();

// ---

const Batch = suite('serve: a batch of N images equals N single runs');

Batch('model.run of [4, 1, 24, 40] split per image equals each image run alone', async () => {
  const device = await testDevice();
  const model = await loadModel(device, { weights: readFileSync(GRAY) });
  try {
    const inputs = [0, 1, 2, 3].map((k) => {
      return imageTensor(decodeImage(grayPng(40, 24, k)), 1, model.info.preprocessing).input;
    });
    const n = inputs[0].data.length;
    const data = new Float32Array(4 * n);
    for (const [i, x] of inputs.entries()) data.set(x.data, i * n);
    const batched = await model.run({ data, shape: [4, 1, 24, 40] });
    let worst = 0;
    for (const [i, x] of inputs.entries()) {
      const single = await model.run(x);
      const part = batched.data.subarray(i * single.data.length, (i + 1) * single.data.length);
      for (let j = 0; j < part.length; j++) worst = Math.max(worst, Math.abs(part[j] - single.data[j]));
    }
    console.log(`  batch of 4 vs single runs: max |d| ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-5, `max |d| ${worst}`);
  } finally {
    model.dispose();
  }
});

Batch.run();

// ---

const Serve = suite('unet serve on 127.0.0.1');
Serve.after(tmp.cleanup);

Serve('100 requests, at most 16 in flight: all equal unet segment masks; batching in /metrics; 4xx errors', async () => {
  const d = tmp.dir();
  const inDir = join(d, 'in');
  mkdirSync(inDir);
  // two sizes, so batches are per size; 30 x 30 = 900 pixels, under --max-pixels 1000
  const images = [0, 1, 2, 3, 4, 5].map((k) => (k < 4 ? grayPng(30, 30, k) : grayPng(24, 16, k)));
  for (const [k, png] of images.entries()) writeFileSync(join(inDir, `img${k}.png`), png);
  const cli = unet('segment', inDir, '--weights', GRAY, '--out-dir', join(d, 'out'));
  assert.is(cli.code, 0, cli.stderr);
  const masks = images.map((_, k) => readFileSync(join(d, 'out', `img${k}_mask.png`)));

  const s = await startServer('--api-key', KEY, '--max-batch', '8', '--batch-window-ms', '20', '--limit', 'maxPixels=1000,maxInputBytes=20000');
  try {
    const t0 = performance.now();
    const results = await bounded(100, 16, (i) => post(`${s.url}/v1/segment`, images[i % images.length]));
    const seconds = (performance.now() - t0) / 1000;
    for (const [i, r] of results.entries()) {
      assert.is(r.status, 200, new TextDecoder().decode(r.bytes));
      assert.is(r.headers.get('content-type'), 'image/png');
      assert.ok(Buffer.compare(Buffer.from(r.bytes), masks[i % images.length]) === 0, `request ${i}: not the mask unet segment writes`);
    }
    console.log(`  100 requests, 16 in flight: ${(100 / seconds).toFixed(1)} requests/s`);

    const metrics = await (await fetch(`${s.url}/metrics`, { headers: auth })).text();
    const batches = metric(metrics, 'unet_batch_size_count');
    const single = metric(metrics, 'unet_batch_size_bucket{le="1"}');
    assert.is(metric(metrics, 'unet_batch_size_sum'), 100, metrics);
    assert.is(metric(metrics, 'unet_requests_total{route="/v1/segment",status="200"}'), 100, metrics);
    assert.ok(batches < 100 && single < batches, `batches of several images: ${batches} batches, ${single} of one image`);
    assert.ok(metric(metrics, 'unet_gpu_seconds_total') > 0);
    assert.match(metrics, /# TYPE unet_request_duration_seconds histogram/);
    console.log(`  ${batches} batches for 100 images (${single} of one image)`);

    // JSON and multipart answers hold the same mask
    const json = await post(`${s.url}/v1/segment?format=json&probs=1`, images[0]);
    const body = JSON.parse(new TextDecoder().decode(json.bytes));
    assert.equal([body.width, body.height, body.classes, body.kind], [30, 30, 1, 'mask']);
    assert.ok(Buffer.compare(Buffer.from(body.labels, 'base64'), masks[0]) === 0);
    assert.is(body.probabilities.length, 1);
    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(images[1])], { type: 'image/png' }), 'img1.png');
    const multipart = await fetch(`${s.url}/v1/segment`, { method: 'POST', body: form, headers: auth });
    assert.is(multipart.status, 200);
    assert.ok(Buffer.compare(Buffer.from(await multipart.arrayBuffer()), masks[1]) === 0, 'multipart answer');

    // the right 4xx, as JSON
    assertError(await post(`${s.url}/v1/segment`, images[0], {}), 401, 'unauthorized');
    assertError(await post(`${s.url}/v1/segment`, images[0], { authorization: 'Bearer wrong' }), 401, 'unauthorized');
    assertError(await post(`${s.url}/v1/segment`, 'hello'), 415, 'unsupported_media_type');
    assertError(await post(`${s.url}/v1/segment`, images[0].subarray(0, 60)), 400, 'invalid_image');
    assertError(await post(`${s.url}/v1/segment`, new Uint8Array(0)), 400, 'bad_request');
    assertError(await post(`${s.url}/v1/segment`, images[0], { ...auth, 'content-type': 'multipart/form-data' }), 400, 'bad_request');
    assertError(await post(`${s.url}/v1/segment?format=xml`, images[0]), 400, 'bad_request');
    assertError(await post(`${s.url}/v1/segment`, grayPng(40, 40, 9)), 413, 'too_large'); // 1600 pixels > 1000
    assertError(await post(`${s.url}/v1/segment`, new Uint8Array(30_000)), 413, 'payload_too_large'); // > 20000 bytes
    const get = await fetch(`${s.url}/v1/segment`, { headers: auth });
    assert.is(get.status, 405);
    assert.is(get.headers.get('allow'), 'POST');
    assert.is((await fetch(`${s.url}/nowhere`, { headers: auth })).status, 404);
    assert.is((await fetch(`${s.url}/healthz`)).status, 200, 'healthz needs no key');
    const info = await (await fetch(`${s.url}/v1/model`, { headers: auth })).json();
    assert.is(info.architecture, 'brain-unet');
  } finally {
    assert.is(await stopServer(s), 0, s.stderr());
  }
  assert.not.match(s.stderr(), /^\s+at /m, 'no stack traces');
});

Serve('a full queue answers 429 with Retry-After; a request past --timeout-ms 503; SIGTERM finishes the requests in flight', async () => {
  const img = grayPng(64, 64, 3);
  const s = await startServer('--max-batch', '1', '--batch-window-ms', '0', '--max-queue', '2');
  try {
    const results = await Promise.all(Array.from({ length: 40 }, () => post(`${s.url}/v1/segment`, img, {})));
    const statuses = results.map((r) => r.status);
    const full = results.filter((r) => r.status === 429);
    assert.ok(full.length > 0, `no 429 among ${statuses.join(' ')}`);
    assert.ok(
      results.every((r) => r.status === 200 || r.status === 429),
      statuses.join(' '),
    );
    assertError(full[0], 429, 'queue_full');
    assert.ok(Number(full[0].headers.get('retry-after')) >= 1, 'Retry-After in seconds');
    console.log(`  40 at once, queue 2: ${statuses.filter((c) => c === 200).length} answered, ${full.length} got 429`);
  } finally {
    assert.is(await stopServer(s), 0, s.stderr());
  }
  const slow = await startServer('--batch-window-ms', '400', '--timeout-ms', '100');
  try {
    assertError(await post(`${slow.url}/v1/segment`, img, {}), 503, 'timeout');
  } finally {
    assert.is(await stopServer(slow), 0, slow.stderr());
  }
  // SIGTERM while 3 requests wait in the queue (a long batch window): each is answered, then the process exits 0
  const held = await startServer('--batch-window-ms', '400');
  const inFlight = Array.from({ length: 3 }, () => post(`${held.url}/v1/segment`, img, {}).catch((e: Error) => ({ status: -1, error: e.message })));
  for (let tries = 0; tries < 100; tries++) {
    if (metric(await (await fetch(`${held.url}/metrics`)).text(), 'unet_queue_depth') === 3) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const code = await stopServer(held);
  const answered = await Promise.all(inFlight);
  assert.equal(
    answered.map((r) => r.status),
    [200, 200, 200],
    JSON.stringify(answered),
  );
  assert.is(code, 0, held.stderr());
  assert.match(held.stderr(), /stopping: finishing the requests in flight[\s\S]*stopped/);
});

Serve.run();
