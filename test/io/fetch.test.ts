// loadModel and model.segment from URLs, against a local HTTP server: progress, Content-Length and
// streamed size limits, HTTP errors, an smp-style folder URL, abort mid-download; then servers that
// stall (no headers, a body that drips) against the time limits, and gzip bombs (Content-Encoding).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { type LocalServer, localServer } from '../localServer.js';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { AbortError, InputError, LimitError, WeightsError, getDevice, loadModel } from '../../src/node.js';
import { TimeoutError } from '../../src/errors.js';
import { fetchBytes } from '../../src/io/fetch.js';
import { resolveLimits } from '../../src/limits.js';
import { randArray, rejectsWith, rng } from '../helpers.js';

const DEMO = 'assets/demo/nuclei_unet.safetensors';
const SAMPLE = 'assets/demo/samples/nuclei_01.png';
const CHUNK = 16 * 1024;

interface Ctx {
  device: GPUDevice;
  server: LocalServer;
  base: string;
  weights: Uint8Array;
  requests: string[];
}

const Url = suite<Ctx>('loadModel from a URL (local HTTP server)');

Url.before(async (ctx) => {
  ctx.device = await getDevice();
  ctx.weights = readFileSync(DEMO);
  ctx.requests = [];
  ctx.server = await localServer((req, res) => {
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
    else if (req.url === '/chunked.safetensors')
      send({}); // no Content-Length: chunked transfer
    else if (req.url === '/slow.safetensors') {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, CHUNK));
      ctx.server.keepOpen(() => res.destroy());
    } else {
      res.writeHead(404, 'Not Found');
      res.end('nothing here');
    }
  });
  ctx.base = ctx.server.base;
});

Url.after(async (ctx) => {
  await ctx.server.close();
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
    assert.ok(
      progress.every((p, i) => p.total === n && (i === 0 || p.loaded > progress[i - 1].loaded)),
      'increasing, with the total',
    );
    assert.is(progress[progress.length - 1].loaded, n);
    assert.is(fromUrl.info.source, `${ctx.base}/demo.safetensors`);
    assert.is(fromUrl.info.parameters, fromPath.info.parameters);
    const x = { data: randArray(rng(7), 48 * 40), shape: [1, 1, 40, 48] };
    const [a, b, c] = [await fromUrl.run(x), await fromPath.run(x), await fromObject.run(x)];
    assert.ok(
      a.data.every((v, i) => v === b.data[i] && v === c.data[i]),
      'same outputs',
    );
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
  assert.is(
    e.message,
    `${ctx.base}/demo.safetensors: ${ctx.weights.length} bytes (Content-Length) exceeds maxWeightsBytes 0.3 MiB (raise limits.maxWeightsBytes)`,
  );
  assert.is(loaded, 0, 'no byte of the body read');
  const s = await rejectsWith(loadModel(ctx.device, `${ctx.base}/chunked.safetensors`, { limits }), (e) => e instanceof LimitError, 'streamed');
  // the chunk that crosses the limit stops it (the network may merge the server's 16 KiB writes)
  assert.match(
    s.message,
    /^http:\/\/127\.0\.0\.1:\d+\/chunked\.safetensors: the download \((\d+) bytes so far\) exceeds maxWeightsBytes 0\.3 MiB \(raise limits\.maxWeightsBytes\)$/,
  );
  const got = Number(/\((\d+) bytes/.exec(s.message)![1]);
  assert.ok(got > 300_000 && got <= 300_000 + 64 * 1024, `stopped at ${got} bytes`);
});

Url('HTTP 404 and a refused connection: WeightsError (code WEIGHTS) naming the URL', async (ctx) => {
  await rejectsWith(
    loadModel(ctx.device, `${ctx.base}/missing.safetensors`),
    (e) => e instanceof WeightsError && e.code === 'WEIGHTS' && e.message === `${ctx.base}/missing.safetensors: HTTP 404 Not Found`,
    '404',
  );
  await rejectsWith(
    loadModel(ctx.device, 'http://127.0.0.1:1/x.safetensors'),
    (e) => e.code === 'WEIGHTS' && /^http:\/\/127\.0\.0\.1:1\/x\.safetensors: cannot fetch/.test(e.message),
    'no server',
  );
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
    assert.ok(
      a.probabilities.every((v, i) => v === want.probabilities[i] && v === b.probabilities[i]),
      'same probabilities',
    );
    await rejectsWith(
      model.segment(`${ctx.base}/missing.png`),
      (e) => e instanceof InputError && e.message === `${ctx.base}/missing.png: HTTP 404 Not Found`,
      '404',
    );
  } finally {
    model.dispose();
  }
});

Url.run();

// ---

interface StallCtx {
  device: GPUDevice;
  server: LocalServer;
  base: string;
  weights: Uint8Array;
  /** 64 MiB of zeros, gzipped to about 64 KB */
  bomb: Uint8Array;
  /** the Accept-Encoding of each request */
  acceptEncodings: string[];
}

const BOMB_BYTES = 64 * 2 ** 20;
const MiB = 2 ** 20;

const Stall = suite<StallCtx>('downloads that stall or inflate: headersTimeoutMs, idleTimeoutMs, Content-Encoding');

Stall.before(async (ctx) => {
  ctx.device = await getDevice();
  ctx.weights = readFileSync(DEMO);
  ctx.bomb = gzipSync(Buffer.alloc(BOMB_BYTES), { level: 9 });
  ctx.acceptEncodings = [];
  ctx.server = await localServer((req, res) => {
    const path = req.url ?? '';
    ctx.acceptEncodings.push(String(req.headers['accept-encoding']));
    if (path.startsWith('/silent')) {
      ctx.server.keepOpen(() => res.destroy()); // never sends its headers
    } else if (path.startsWith('/drip')) {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('x');
      const drip = setInterval(() => res.write('x'), 2000);
      res.on('close', () => clearInterval(drip));
      ctx.server.keepOpen(() => res.destroy());
    } else if (path === '/steady.safetensors') {
      // chunked, 8 writes 100 ms apart: 800 ms in all, never more than 100 ms without a byte
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const step = Math.ceil(ctx.weights.length / 8);
      let at = 0;
      const next = setInterval(() => {
        res.write(ctx.weights.subarray(at, at + step));
        at += step;
        if (at >= ctx.weights.length) {
          clearInterval(next);
          res.end();
        }
      }, 100);
      res.on('close', () => clearInterval(next));
    } else if (path.startsWith('/bomb')) {
      // Content-Length, when sent, is the size on the wire (~64 KB), far under every limit
      res.writeHead(200, { 'content-encoding': 'gzip', ...(path.includes('length') ? { 'content-length': ctx.bomb.length } : {}) });
      res.end(ctx.bomb);
    } else {
      res.writeHead(404, 'Not Found');
      res.end();
    }
  });
  ctx.base = ctx.server.base;
});

Stall.after(async (ctx) => {
  await ctx.server.close();
  ctx.device.destroy();
});

/** `p`'s rejection and how long it took, in ms. */
async function timedRejection(p: Promise<unknown>, check: (e: Error & { code?: string }) => boolean, what: string): Promise<{ e: Error; ms: number }> {
  const t0 = performance.now();
  const e = await rejectsWith(p, check, what);
  return { e, ms: performance.now() - t0 };
}

/** The largest growth of ArrayBuffer memory (bytes) seen while `p` settles, sampled every millisecond and at the end. */
async function peakArrayBuffers(p: Promise<unknown>): Promise<number> {
  const base = process.memoryUsage().arrayBuffers;
  let peak = 0;
  const sample = () => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - base));
  const timer = setInterval(sample, 1);
  await p.catch(() => undefined);
  clearInterval(timer);
  sample();
  return peak;
}

const isTimeout = (limit: string) => (e: Error & { code?: string }) => e instanceof TimeoutError && e.code === 'TIMEOUT' && e.limit === limit;

Stall('no response headers: a TimeoutError (TIMEOUT, headersTimeoutMs) once headersTimeoutMs 300 has passed, for a model and an image URL', async (ctx) => {
  const limits = { headersTimeoutMs: 300 };
  const m = await timedRejection(loadModel(ctx.device, `${ctx.base}/silent.safetensors`, { limits }), isTimeout('headersTimeoutMs'), 'loadModel');
  assert.is(m.e.message, `${ctx.base}/silent.safetensors: no response headers within 300 ms (raise limits.headersTimeoutMs)`);
  assert.ok(m.ms >= 290 && m.ms < 2000, `rejected after ${m.ms.toFixed(0)} ms`);
  const model = await loadModel(ctx.device, DEMO);
  try {
    const s = await timedRejection(model.segment(`${ctx.base}/silent.png`, { limits }), isTimeout('headersTimeoutMs'), 'segment');
    assert.is(s.e.message, `${ctx.base}/silent.png: no response headers within 300 ms (raise limits.headersTimeoutMs)`);
    assert.ok(s.ms < 2000, `rejected after ${s.ms.toFixed(0)} ms`);
  } finally {
    model.dispose();
  }
});

Stall('a body that drips 1 byte every 2 s: a TimeoutError (idleTimeoutMs) 300 ms after its first byte, for a model and an image URL', async (ctx) => {
  const limits = { idleTimeoutMs: 300 };
  const m = await timedRejection(loadModel(ctx.device, `${ctx.base}/drip.safetensors`, { limits }), isTimeout('idleTimeoutMs'), 'loadModel');
  assert.is(m.e.message, `${ctx.base}/drip.safetensors: no data for 300 ms after 1 byte of the body (raise limits.idleTimeoutMs)`);
  assert.ok(m.ms < 1500, `rejected after ${m.ms.toFixed(0)} ms (the next byte comes at 2000)`);
  const model = await loadModel(ctx.device, DEMO);
  try {
    const s = await timedRejection(model.segment(`${ctx.base}/drip.png`, { limits }), isTimeout('idleTimeoutMs'), 'segment');
    assert.ok(s.ms < 1500, `rejected after ${s.ms.toFixed(0)} ms`);
  } finally {
    model.dispose();
  }
});

Stall('slow but steady (8 writes 100 ms apart, 800 ms in all) loads with idleTimeoutMs 300: the limit is on silence, not on the total', async (ctx) => {
  const t0 = performance.now();
  const m = await loadModel(ctx.device, `${ctx.base}/steady.safetensors`, { limits: { idleTimeoutMs: 300, headersTimeoutMs: 300 } });
  const ms = performance.now() - t0;
  const fromPath = await loadModel(ctx.device, DEMO);
  try {
    assert.ok(ms > 600, `took ${ms.toFixed(0)} ms, longer than idleTimeoutMs`);
    assert.is(m.info.parameters, fromPath.info.parameters);
    const x = { data: randArray(rng(3), 32 * 32), shape: [1, 1, 32, 32] };
    const [a, b] = [await m.run(x), await fromPath.run(x)];
    assert.ok(
      a.data.every((v, i) => v === b.data[i]),
      'same outputs',
    );
  } finally {
    m.dispose();
    fromPath.dispose();
  }
});

Stall("the caller's AbortSignal still ends a stalled download, before the time limits; a limit of 0 arms no timer", async (ctx) => {
  const a = await timedRejection(
    loadModel(ctx.device, `${ctx.base}/silent.safetensors`, { signal: AbortSignal.timeout(200) }),
    (e) => e instanceof AbortError && e.code === 'ABORT',
    'no headers',
  );
  assert.ok(a.ms < 2000, `aborted after ${a.ms.toFixed(0)} ms`);
  // idleTimeoutMs 0: still waiting at 700 ms, when the caller gives up
  const b = await timedRejection(
    loadModel(ctx.device, `${ctx.base}/drip.safetensors`, { limits: { idleTimeoutMs: 0 }, signal: AbortSignal.timeout(700) }),
    (e) => e instanceof AbortError,
    'drip, no idle limit',
  );
  assert.ok(b.ms >= 690 && b.ms < 2000, `aborted after ${b.ms.toFixed(0)} ms`);
});

Stall('a gzip bomb (64 MiB of zeros in 64 KB, with or without its Content-Length): asked for as it is, refused before it inflates', async (ctx) => {
  ctx.acceptEncodings.length = 0;
  const refused =
    /: the server sent a body encoded as "gzip" though asked for it as it is \(Accept-Encoding: identity\): refused, as such a body can inflate to far more than its size on the wire$/;
  for (const path of ['/bomb.safetensors', '/bomb-length.safetensors']) {
    const p = loadModel(ctx.device, `${ctx.base}${path}`);
    const grew = await peakArrayBuffers(p);
    await rejectsWith(p, (e) => e instanceof WeightsError && e.code === 'WEIGHTS' && refused.test(e.message), path);
    assert.ok(grew < 16 * MiB, `${path}: ArrayBuffers grew by ${(grew / MiB).toFixed(1)} MiB while loading`);
  }
  const model = await loadModel(ctx.device, DEMO);
  try {
    const p = model.segment(`${ctx.base}/bomb.png`);
    const grew = await peakArrayBuffers(p);
    await rejectsWith(p, (e) => e instanceof InputError && e.code === 'INPUT' && refused.test(e.message), 'image');
    assert.ok(grew < 16 * MiB, `image: ArrayBuffers grew by ${(grew / MiB).toFixed(1)} MiB`);
  } finally {
    model.dispose();
  }
  assert.equal([...new Set(ctx.acceptEncodings)], ['identity']);
});

Stall('where the client negotiates compression itself (as browsers do): the inflated bytes count against the limit and stop it', async (ctx) => {
  // a browser's Request drops Accept-Encoding (a forbidden header); this one does the same
  const NodeRequest = globalThis.Request;
  globalThis.Request = class extends NodeRequest {
    constructor(input: RequestInfo | URL, init?: RequestInit) {
      super(input, init);
      this.headers.delete('accept-encoding');
    }
  };
  try {
    const p = fetchBytes(`${ctx.base}/bomb.png`, { limits: resolveLimits({ maxInputBytes: MiB }), limit: 'maxInputBytes', errorClass: InputError });
    const grew = await peakArrayBuffers(p);
    const e = await rejectsWith(p, (e) => e instanceof LimitError && (e as LimitError).limit === 'maxInputBytes', 'negotiated gzip');
    assert.match(e.message, /\/bomb\.png: the download \(\d+ bytes so far\) exceeds maxInputBytes 1\.0 MiB \(raise limits\.maxInputBytes\)$/);
    assert.ok(grew < 16 * MiB, `ArrayBuffers grew by ${(grew / MiB).toFixed(1)} MiB for a body inflating to ${BOMB_BYTES / MiB} MiB`);
  } finally {
    globalThis.Request = NodeRequest;
  }
  assert.is(ctx.acceptEncodings.at(-1), 'gzip, deflate', 'the client asked for compression');
});

Stall.run();
