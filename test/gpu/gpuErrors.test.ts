// GPU errors are never silent: a run whose submission WebGPU rejects fails with a GpuError (code 'GPU')
// instead of returning what the readback buffer held before, an error the device reports outside our error
// scopes fails the run in flight, and nothing of Dawn's reaches stdout (the `webgpu` package printf()s an
// uncaptured error there unless a listener prevents the event's default; `unet infer --out -` writes the
// output tensor there).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GpuError } from '../../src/errors.js';
import { loadModel } from '../../src/load.js';
import type { Model } from '../../src/model.js';
import { randomUNetSafetensors } from '../../src/arch/random.js';
import { profileSteps } from '../../src/compiler/profile.js';
import { residentForwards } from '../../src/cli/benchTime.js';
import { rejectsWith, testDevice } from '../helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHAPE = [1, 3, 16, 16];
const input = () => ({ data: new Float32Array(3 * 16 * 16).fill(0.5), shape: SHAPE });

/** Breaks the compiled plan of SHAPE the way a lost allocation would: its activation buffer is destroyed,
 *  so the next submission using it is a validation error. */
function breakPlan(model: Model): void {
  (model.plan(SHAPE) as unknown as { buffers: { arenas: GPUBuffer[] } }).buffers.arenas[0].destroy();
}

const Errors = suite<{ device: GPUDevice; model: Model }>('GPU errors of runs');
Errors.before(async (ctx) => {
  ctx.device = await testDevice();
});
Errors.after((ctx) => ctx.device.destroy());

Errors('a later run whose submission fails validation rejects with GpuError (not the previous output)', async ({ device }) => {
  const model = await loadModel(device, randomUNetSafetensors({ features: 4, depth: 2 }));
  const first = await model.run(input());
  assert.ok(
    first.data.some((v) => v !== 0),
    'the first run gives an output',
  );
  breakPlan(model);
  const e = await rejectsWith(model.run(input()), (e) => e instanceof GpuError && e.code === 'GPU', 'run with a destroyed arena');
  const g = e as GpuError;
  assert.is(g.kind, 'validation');
  assert.match(g.message, /^the forward pass on input \[1,3,16,16\] failed on the GPU \(validation error\): .*destroyed/i);
  assert.not.match(g.message, /\n/, 'one line');
  model.dispose();
});

Errors('an error reported outside our error scopes fails the run in flight', async ({ device }) => {
  const model = await loadModel(device, randomUNetSafetensors({ features: 4, depth: 2 }));
  // in windows, so the run is still in flight after its first batch: the error comes from there
  let batches = 0;
  const running = model.run(
    { data: new Float32Array(3 * 48 * 48).fill(0.5), shape: [1, 3, 48, 48] },
    {
      tile: { roi: 16, overlap: 0.25, batch: 1 },
      onProgress: () => {
        // MAP_READ with STORAGE is invalid: a validation error no scope of ours captures
        if (batches++ === 0) device.createBuffer({ label: 'invalid usage', size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      },
    },
  );
  const e = await rejectsWith(running, (e) => e instanceof GpuError && e.code === 'GPU', 'run during an uncaptured error');
  assert.match(e.message, /^GPU work outside an error scope failed on the GPU \(validation error\): .*usage/i);
  // the model stays usable
  assert.is((await model.run(input())).data.length, 16 * 16);
  model.dispose();
});

Errors('per-step profiling and resident forward timing (unet bench) reject a failed submission too', async ({ device }) => {
  const model = await loadModel(device, randomUNetSafetensors({ features: 4, depth: 2 }));
  const plan = model.plan(SHAPE);
  breakPlan(model);
  const gpu = (e: Error & { code?: string }) => e instanceof GpuError && e.code === 'GPU';
  const profiled = await rejectsWith(profileSteps(device, plan.steps, 1), gpu, 'profileSteps');
  assert.match(profiled.message, /^profiling .* failed on the GPU \(validation error\)/);
  const timed = await rejectsWith(residentForwards(device, plan, 2, 0), gpu, 'residentForwards');
  assert.match(timed.message, /^timing 2 forwards failed on the GPU \(validation error\)/);
  model.dispose();
});

Errors.run();

// ---

const Stdout = suite<{ dir: string }>('nothing of Dawn reaches stdout');
Stdout.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'unet-gpuerrors-'));
});
Stdout.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

Stdout('a failed run and an uncaptured error: stdout holds only the bytes written to it, stderr says what failed', ({ dir }) => {
  const script = join(dir, 'errors.mts'); // ESM, as the package is: a CommonJS script could not import nifti-reader-js (its exports name no require entry)
  const src = (p: string) => JSON.stringify(join(ROOT, p));
  writeFileSync(
    script,
    `import ${src('src/gpu/node.ts')};
import { writeSync } from 'node:fs';
import { getDevice, releaseGpu } from ${src('src/gpu/device.ts')};
import { loadModel } from ${src('src/load.ts')};
import { randomUNetSafetensors } from ${src('src/arch/random.ts')};
async function main() {
  const device = await getDevice();
  const model = await loadModel(device, randomUNetSafetensors({ features: 4, depth: 2 }));
  const x = { data: new Float32Array(${3 * 16 * 16}), shape: ${JSON.stringify(SHAPE)} };
  await model.run(x);
  (model.plan(x.shape) as any).buffers.arenas[0].destroy();
  const failed = await model.run(x).then(() => 'resolved', (e) => e.code + ': ' + e.message);
  writeSync(2, 'run: ' + failed + '\\n');
  // outside any scope, no run in flight
  device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
  await device.queue.onSubmittedWorkDone();
  await new Promise((r) => setTimeout(r, 50));
  writeSync(1, 'TENSOR-BYTES');
  model.dispose();
  device.destroy();
  releaseGpu();
}
main();
`,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, 'TENSOR-BYTES', `stdout:\n${r.stdout}`);
  assert.match(r.stderr, /^run: GPU: the forward pass on input \[1,3,16,16\] failed on the GPU \(validation error\): /m);
  assert.match(r.stderr, /^webgpu-unet: GPU work outside an error scope failed on the GPU \(validation error\): /m);
});

Stdout.run();
