// Images per second through the work queue (`unet queue add` + `unet worker` processes) with 1, 2 and 3
// workers on this machine. It starts its own redis-server on a free loopback port (persistence off), adds
// --images copies of the demo samples (128 x 128 gray, the demo nuclei U-Net) to a fresh queue per round,
// starts the workers, and reads the rate from the queue itself: completed jobs over the span from the first
// job's start to the last one's finish (what `unet queue status` prints), so the workers' start-up (Node,
// Dawn, loading the model: seconds) is not counted. A single-process `unet segment` of the same inputs is
// timed beside it (its own reported rate, without start-up either).
//
//   node --import tsx bench/queue.ts [--images 48] [--workers 1,2,3] [--weights assets/demo/nuclei_unet.safetensors]
//
// Each worker is a whole process with its own WebGPU device: on lavapipe (software Vulkan) every worker's
// shaders run on the CPU, so the workers share the machine's cores, and past the core count a worker adds
// only contention.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { haveRedis, startRedis, until } from '../test/redis.js';

const { values: v } = parseArgs({
  options: {
    images: { type: 'string', default: '48' },
    workers: { type: 'string', default: '1,2,3' },
    weights: { type: 'string', default: 'assets/demo/nuclei_unet.safetensors' },
  },
});
const IMAGES = Number(v.images);
const COUNTS = String(v.workers).split(',').map(Number);
const WEIGHTS = String(v.weights);
const SAMPLES = 'assets/demo/samples';
const unet = (...args: string[]) => execFileSync(process.execPath, ['bin/unet.js', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

if (!haveRedis()) throw new Error('no redis-server: scripts/setup-system.sh --redis installs it');
const { port, redis } = await startRedis();
const url = `redis://127.0.0.1:${port}`;
const work = mkdtempSync(join(tmpdir(), 'unet-queue-bench-'));
try {
  const inDir = join(work, 'in');
  mkdirSync(inDir);
  const samples = readdirSync(SAMPLES).filter((n) => n.endsWith('.png'));
  for (let k = 0; k < IMAGES; k++) copyFileSync(join(SAMPLES, samples[k % samples.length]), join(inDir, `img${String(k).padStart(3, '0')}.png`));

  const single = JSON.parse(unet('segment', inDir, '--weights', WEIGHTS, '--out-dir', join(work, 'single'), '--json'));
  const rows: string[][] = [['unet segment (1 process)', '-', single.imagesPerSecond.toFixed(2)]];
  for (const n of COUNTS) {
    const name = `bench${n}`;
    unet('queue', 'add', '--redis', url, '--queue', name, '--weights', WEIGHTS, '--out-dir', join(work, `out${n}`), inDir);
    const workers: ChildProcess[] = [];
    for (let k = 0; k < n; k++) workers.push(spawn(process.execPath, ['bin/unet.js', 'worker', '--redis', url, '--queue', name], { stdio: 'ignore' }));
    const q = new Queue(name, { connection: { url } });
    await until(`${IMAGES} completed jobs`, 600_000, async () => (await q.getJobCounts('completed')).completed === IMAGES);
    await q.close();
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(0) : w.on('exit', r)))));
    const status = JSON.parse(unet('queue', 'status', '--redis', url, '--queue', name, '--json'));
    rows.push([`${n} worker${n === 1 ? '' : 's'}`, String(status.throughput.seconds.toFixed(1)), status.throughput.jobsPerSecond.toFixed(2)]);
  }
  console.log(`${IMAGES} images 128x128, ${WEIGHTS}, ${availableParallelism()} CPU cores`);
  console.log('| run | seconds (first start to last finish) | images/s |');
  console.log('|---|---|---|');
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
} finally {
  redis.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
