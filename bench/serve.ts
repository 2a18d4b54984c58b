// `unet serve` under load: throughput and p50 / p99 latency with batching on (--max-batch 8, a 5 ms
// window) and off (--max-batch 1), from a closed-loop client on 127.0.0.1 keeping C requests in flight.
// The service runs as `unet serve` does (a child process); the client is this process, so on a 2-core
// machine they share the CPUs. Each setting gets a warm-up, then the measured requests; the mean batch size
// and GPU seconds come from the service's /metrics.
//   node --import tsx bench/serve.ts [--weights assets/demo/nuclei_unet.safetensors] [--images a.png,b.png]
//        [--requests 300] [--concurrency 1,16] [--batches 1,8] [--window-ms 5] [--json]
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';

const { values: v } = parseArgs({
  options: {
    weights: { type: 'string', default: 'assets/demo/nuclei_unet.safetensors' },
    images: { type: 'string', default: [1, 2, 3, 4, 5, 6].map((k) => `assets/demo/samples/nuclei_0${k}.png`).join(',') },
    requests: { type: 'string', default: '300' },
    concurrency: { type: 'string', default: '1,16' },
    batches: { type: 'string', default: '1,8' },
    'window-ms': { type: 'string', default: '5' },
    json: { type: 'boolean' },
  },
});
const images = (v.images ?? '').split(',').map((f) => new Uint8Array(readFileSync(f)));
const requests = Number(v.requests);
const windowMs = v['window-ms'] ?? '5';

async function start(maxBatch: number): Promise<{ url: string; child: ChildProcess; exited: Promise<unknown> }> {
  const child = spawn(
    process.execPath,
    [
      'bin/unet.js',
      'serve',
      '--weights',
      v.weights ?? '',
      '--port',
      '0',
      '--max-batch',
      String(maxBatch),
      '--batch-window-ms',
      windowMs,
      '--max-queue',
      '1024',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, UNET_API_KEY: '' } },
  );
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+) /.exec(out);
      if (m) resolve(m[1]);
    });
    void exited.then(() => reject(new Error(`unet serve exited: ${out}`)));
  });
  return { url, child, exited };
}

/** `count` requests with `concurrency` in flight; each request's latency in ms, and the wall time. */
async function load(url: string, count: number, concurrency: number): Promise<{ ms: number[]; seconds: number }> {
  const ms: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const t = performance.now();
        const r = await fetch(`${url}/v1/segment`, { method: 'POST', body: images[i % images.length] });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`request ${i}: status ${r.status}`);
        ms.push(performance.now() - t);
      }
    }),
  );
  return { ms, seconds: (performance.now() - t0) / 1000 };
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);

interface Row {
  maxBatch: number;
  concurrency: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  meanBatch: number;
  gpuSecondsPerImage: number;
}

const rows: Row[] = [];
for (const maxBatch of (v.batches ?? '').split(',').map(Number)) {
  const s = await start(maxBatch);
  try {
    for (const concurrency of (v.concurrency ?? '').split(',').map(Number)) {
      await load(s.url, Math.min(50, requests), concurrency); // warm-up: plans compiled for each batch size met
      const before = await (await fetch(`${s.url}/metrics`)).text();
      const { ms, seconds } = await load(s.url, requests, concurrency);
      const after = await (await fetch(`${s.url}/metrics`)).text();
      const delta = (name: string) => metric(after, name) - metric(before, name);
      ms.sort((a, b) => a - b);
      rows.push({
        maxBatch,
        concurrency,
        requestsPerSecond: requests / seconds,
        p50Ms: quantile(ms, 0.5),
        p99Ms: quantile(ms, 0.99),
        meanBatch: delta('unet_batch_size_sum') / delta('unet_batch_size_count'),
        gpuSecondsPerImage: delta('unet_gpu_seconds_total') / delta('unet_images_total'),
      });
    }
  } finally {
    s.child.kill('SIGTERM');
    await s.exited;
  }
}

if (v.json) process.stdout.write(`${JSON.stringify({ cpus: cpus().length, weights: v.weights, requests, windowMs: Number(windowMs), rows })}\n`);
else {
  const f = (x: number, d = 1) => x.toFixed(d);
  const lines = [
    `unet serve, ${v.weights}, ${images.length} images, ${requests} requests per row, ${cpus().length} CPUs (client and service share them)`,
    '| max batch | in flight | requests/s | p50 ms | p99 ms | mean batch | run ms / image |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.maxBatch} | ${r.concurrency} | ${f(r.requestsPerSecond)} | ${f(r.p50Ms)} | ${f(r.p99Ms)} | ${f(r.meanBatch, 2)} | ${f(1000 * r.gpuSecondsPerImage, 2)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
