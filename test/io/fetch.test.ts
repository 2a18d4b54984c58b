// loadModel and model.segment from URLs, against a local HTTP server: progress, Content-Length and
// streamed size limits, HTTP errors, an smp-style folder URL, abort mid-download.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { AbortError, InputError, LimitError, WeightsError, getDevice, loadModel } from '../../src/node.js';
import { randArray, rejectsWith, rng } from '../helpers.js';

const DEMO = 'assets/demo/nuclei_unet.safetensors';
const SAMPLE = 'assets/demo/samples/nuclei_01.png';
const CHUNK = 16 * 1024;

interface Ctx {
  device: GPUDevice;
  server: Server;
  base: string;
  weights: Uint8Array;
  requests: string[];
  /** responses of /slow still open, ended by after() */
  open: Set<() => void>;
}

const Url = suite<Ctx>('loadModel from a URL (local HTTP server)');

Url.before(async (ctx) => {
  ctx.device = await getDevice();
  ctx.weights = readFileSync(DEMO);
  ctx.requests = [];
  ctx.open = new Set();
  ctx.server = createServer((req, res) => {
    ctx.requests.push(req.url ?? '');
    const body = ctx.weights;
    const send = (headers: Record<string, string | number>) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
      for (let at = 0; at < body.length; at += CHUNK) res.write(body.subarray(at, at + CHUNK));
      res.end();
    };
    if (req.url === '/demo.safetensors' || req.url === '/folder/model.safetensors') send({ 'content-length': body.length });
    else if (req.url === '/folder/config.json') res.end('{}');
    else if (req.url === '/sample.png') res.end(readFileSync(SAMPLE));
    else if (req.url === '/chunked.safetensors') send({}); // no Content-Length: chunked transfer
    else if (req.url === '/slow.safetensors') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, CHUNK));
      ctx.open.add(() => res.destroy());
    } else {
      res.writeHead(404, 'Not Found');
      res.end('nothing here');
    }
  });
  await new Promise<void>((r) => ctx.server.listen(0, '127.0.0.1', r));
  ctx.base = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
});

Url.after(async (ctx) => {
  for (const end of ctx.open) end();
  await new Promise((r) => ctx.server.close(r));
  ctx.device.destroy();
});

Url('a URL string and a URL object load the model the path loads; onProgress counts up to the Content-Length', async (ctx) => {
  const progress: { loaded: number; total?: number }[] = [];
  const fromUrl = await loadModel(ctx.device, `${ctx.base}/demo.safetensors`, { onProgress: (p) => progress.push(p) });
  const fromPath = await loadModel(ctx.device, DEMO);
  const fromObject = await loadModel(ctx.device, new URL('/demo.safetensors', ctx.base));
  try {
    const n = ctx.weights.length;
    assert.ok(progress.length >= 2, `${progress.length} progress calls for ${n} bytes sent in ${CHUNK}-byte writes`);
    assert.ok(progress.every((p, i) => p.total === n && (i === 0 || p.loaded > progress[i - 1].loaded)), 'increasing, with the total');
    assert.is(progress[progress.length - 1].loaded, n);
    assert.is(fromUrl.info.source, `${ctx.base}/demo.safetensors`);
    assert.is(fromUrl.info.parameters, fromPath.info.parameters);
    const x = { data: randArray(rng(7), 48 * 40), shape: [1, 1, 40, 48] };
    const [a, b, c] = [await fromUrl.run(x), await fromPath.run(x), await fromObject.run(x)];
    assert.ok(a.data.every((v, i) => v === b.data[i] && v === c.data[i]), 'same outputs');
  } finally {
    [fromUrl, fromPath, fromObject].forEach((m) => m.dispose());
  }
});

Url('a path or bytes report progress once, loaded = total = the file size', async (ctx) => {
  const seen: { loaded: number; total?: number }[] = [];
  const m = await loadModel(ctx.device, ctx.weights, { onProgress: (p) => seen.push(p) });
  m.dispose();
  assert.equal(seen, [{ loaded: ctx.weights.length, total: ctx.weights.length }]);
});

Url('without Content-Length: streamed, total undefined; a URL ending in / is a folder of config.json + model.safetensors', async (ctx) => {
  const seen: { loaded: number; total?: number }[] = [];
  const m = await loadModel(ctx.device, `${ctx.base}/chunked.safetensors`, { onProgress: (p) => seen.push(p) });
  m.dispose();
  assert.ok(seen.length >= 2 && seen.every((p) => p.total === undefined));
  assert.is(seen[seen.length - 1].loaded, ctx.weights.length);
  ctx.requests.length = 0;
  const f = await loadModel(ctx.device, `${ctx.base}/folder/`);
  f.dispose();
  assert.equal(ctx.requests, ['/folder/config.json', '/folder/model.safetensors']);
  assert.is(f.info.source, `${ctx.base}/folder/model.safetensors`);
});

Url('maxWeightsBytes: refused from the Content-Length before the body is read, and while streaming without one', async (ctx) => {
  const limits = { maxWeightsBytes: 300_000 }; // formatBytes: 0.3 MiB
  let loaded = 0;
  const e = await rejectsWith(
    loadModel(ctx.device, `${ctx.base}/demo.safetensors`, { limits, onProgress: (p) => (loaded = p.loaded) }),
    (e) => e instanceof LimitError && e.code === 'INPUT' && (e as LimitError).limit === 'maxWeightsBytes',
    'Content-Length',
  );
  assert.is(e.message, `${ctx.base}/demo.safetensors: ${ctx.weights.length} bytes (Content-Length) exceeds maxWeightsBytes 0.3 MiB (raise limits.maxWeightsBytes)`);
  assert.is(loaded, 0, 'no byte of the body read');
  const s = await rejectsWith(loadModel(ctx.device, `${ctx.base}/chunked.safetensors`, { limits }), (e) => e instanceof LimitError, 'streamed');
  // the chunk that crosses the limit stops it (the network may merge the server's 16 KiB writes)
  assert.match(s.message, /^http:\/\/127\.0\.0\.1:\d+\/chunked\.safetensors: the download \((\d+) bytes so far\) exceeds maxWeightsBytes 0\.3 MiB \(raise limits\.maxWeightsBytes\)$/);
  const got = Number(/\((\d+) bytes/.exec(s.message)![1]);
  assert.ok(got > 300_000 && got <= 300_000 + 64 * 1024, `stopped at ${got} bytes`);
});

Url('HTTP 404 and a refused connection: WeightsError (code WEIGHTS) naming the URL', async (ctx) => {
  await rejectsWith(loadModel(ctx.device, `${ctx.base}/missing.safetensors`), (e) => e instanceof WeightsError && e.code === 'WEIGHTS' && e.message === `${ctx.base}/missing.safetensors: HTTP 404 Not Found`, '404');
  await rejectsWith(loadModel(ctx.device, 'http://127.0.0.1:1/x.safetensors'), (e) => e.code === 'WEIGHTS' && /^http:\/\/127\.0\.0\.1:1\/x\.safetensors: cannot fetch/.test(e.message), 'no server');
});

Url('abort mid-download: rejects with an AbortError while the server is still sending', async (ctx) => {
  const ac = new AbortController();
  const t0 = performance.now();
  await rejectsWith(
    loadModel(ctx.device, `${ctx.base}/slow.safetensors`, { signal: ac.signal, onProgress: () => ac.abort() }),
    (e) => e instanceof AbortError && e.code === 'ABORT',
    'abort',
  );
  assert.ok(performance.now() - t0 < 5000, 'promptly');
});

Url('model.segment of an image URL equals the path; an HTTP error there is an InputError', async (ctx) => {
  const model = await loadModel(ctx.device, DEMO);
  try {
    const [a, b] = [await model.segment(`${ctx.base}/sample.png`), await model.segment(new URL('/sample.png', ctx.base))];
    const want = await model.segment(SAMPLE);
    assert.ok(a.probabilities.every((v, i) => v === want.probabilities[i] && v === b.probabilities[i]), 'same probabilities');
    await rejectsWith(model.segment(`${ctx.base}/missing.png`), (e) => e instanceof InputError && e.message === `${ctx.base}/missing.png: HTTP 404 Not Found`, '404');
  } finally {
    model.dispose();
  }
});

Url.run();
