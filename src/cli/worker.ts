// `unet worker`: one process per GPU, taking `unet queue add`'s jobs from a BullMQ queue on Redis. Each job
// is one input run as `unet segment` runs it (segment.ts segmentOne, with segment's own argument parser and
// output writers: the same files, written as a set through temporaries renamed into place), or one case of
// an nnU-Net model (predict.ts predictCases). Models stay loaded between jobs, keyed by weights and options.
//
// Stopping. SIGTERM closes the worker: the jobs it holds finish, then it exits (0). SIGKILL stops it
// anywhere; BullMQ's stalled-job check (--stalled-ms, --lock-ms) then hands its job to another worker. The
// job must then come out as if it had run once, so an attempt goes through these steps:
//  1. the job records "writing" in Redis before it writes anything, and only if none of its outputs exists
//     yet (or --overwrite was given): from then on, outputs found under its names are its own;
//  2. it removes temporaries a dead process left for its outputs (.NAME.tmp-PID-N: SIGKILL runs no handler);
//  3. outputs found complete and matching the sha256 recorded in step 5 are kept as they are, not rewritten;
//  4. otherwise it writes the set (temporaries, then renames), over outputs of its own earlier attempt: their
//     content is the same, since the engine is deterministic for the same input, weights and options;
//  5. it records the outputs' sha256 in Redis, then returns.
// A worker killed between 4 and 5 leaves a complete set that step 4 rewrites with the same bytes; killed
// during 4, it leaves temporaries (removed by step 2) and at most part of the set in place (replaced whole).
// Either way each output exists once, whole, and no temporary stays.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { getDevice, releaseGpu, type Model } from '../node.js';
import { sniff } from '../io/image.js';
import { isMultiClass } from '../io/classes.js';
import { printable } from '../limits.js';
import { CliError, UsageError, cliText } from './errors.js';
import { makeOutputDir, readInputFile, statOrUndefined } from './files.js';
import { modelFiles, openModel, readWeightsArg } from './model.js';
import { weightsNonFinite } from './outputs.js';
import { settle, track } from './pending.js';
import { predictCases } from './predict.js';
import { parseSegmentNnunetArgs } from './predictArgs.js';
import { connection, type JobData, type JobResult, queueTarget, redact, redactedError, segmentArgv, takeOptions } from './queueJobs.js';
import { segmentOne } from './segment.js';
import { modelSettings, parseSegmentArgs, type SegmentArgs } from './segmentArgs.js';
import { outputSet } from './segmentInputs.js';

export const WORKER_USAGE = `Usage: unet worker --redis URL --queue NAME [--concurrency 1] [--lock-ms 30000] [--stalled-ms 30000]

Processes the jobs of \`unet queue add\` until stopped: one worker per GPU. Each job writes the files
unet segment writes for its input (an nnU-Net case: the case's files), as a set, atomically; models
stay loaded between jobs (by weights and options). Progress goes to the job (job.updateProgress: the
percentage of the input done, by sliding window for tiled images, by slice for volumes); the return
value lists the outputs and timings. A job whose worker dies (SIGKILL, a lost machine) is taken up by
another worker once its lock (--lock-ms) lapses, as BullMQ's stalled-job check (every --stalled-ms)
finds it; the redo leaves each output once and no temporary file.
SIGTERM: the jobs in hand finish, then the worker exits. A log line per job goes to stderr.
  --concurrency N   jobs run at once in this process (default 1: the GPU is the limit)
URL: redis://[:password@]host:port[/db], rediss:// for TLS. It is never printed.
`;

export async function worker(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(WORKER_USAGE);
    return 0;
  }
  const { values, rest } = takeOptions('worker', args, ['redis', 'queue', 'concurrency', 'lock-ms', 'stalled-ms']);
  if (rest.length) throw new UsageError(`worker: unexpected argument ${JSON.stringify(rest[0].slice(0, 60))} (see unet worker --help)`);
  const target = queueTarget('worker', values);
  const number = (name: string, fallback: number, min: number): number => {
    const v = values.get(name);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v) || Number(v) < min)
      throw new UsageError(`worker: --${name} must be a whole number >= ${min}, found ${JSON.stringify(v.slice(0, 40))}`);
    return Number(v);
  };
  const concurrency = number('concurrency', 1, 1);
  const lockDuration = number('lock-ms', 30_000, 100);
  const stalledInterval = number('stalled-ms', 30_000, 100);
  const log = (line: string) => process.stderr.write(`unet worker: ${cliText(redact(line, target.url))}\n`);

  keepSigtermForUs();
  const device = await getDevice();
  const models = new ModelCache(device, log);
  const tag = `${hostname()}:${process.pid}`;
  const w = new Worker<JobData, JobResult>(target.name, (job) => runJob(job, models, tag, log), {
    connection: connection(target.url, true),
    concurrency,
    lockDuration,
    stalledInterval,
    autorun: false,
  });
  w.on('error', (e) => log(`redis: ${e.message}`));
  w.on('completed', (job, r) =>
    log(
      `${job.id} ${printable(basename(job.data.inputs[0]))}: done in ${Math.round(r.ms.total)} ms, attempt ${r.attempt}${r.reused ? ' (outputs already in place)' : ''}`,
    ),
  );
  w.on('failed', (job, e) => {
    if (!job) return;
    const final = job.attemptsMade >= (job.opts.attempts ?? 1) || e instanceof UnrecoverableError;
    log(`${job.id} ${printable(basename(job.data.inputs[0]))}: ${final ? 'failed' : `attempt ${job.attemptsMade} failed, retrying`}: ${e.message}`);
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    log(`${signal}: finishing the jobs in hand, then exiting`);
    stopping = w.close();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  try {
    await w.waitUntilReady().catch((e) => {
      throw redactedError(e, target.url);
    });
    log(`ready: queue ${target.name}, concurrency ${concurrency}, pid ${process.pid}`);
    await w.run();
    await stopping;
  } finally {
    models.dispose();
    device.destroy();
    releaseGpu();
  }
  return 0;
}

/**
 * pending.ts ends the process on SIGTERM, removing the files in flight; a worker finishes its job instead.
 * Its handlers are installed with the first file it tracks, so this installs them, then takes back SIGTERM
 * (SIGINT and SIGHUP keep pending.ts's behaviour: stop now, leave no temporary, let the job stall).
 */
function keepSigtermForUs(): void {
  const probe = '\0unet-worker';
  track(probe);
  settle(probe);
  for (const l of process.listeners('SIGTERM')) process.removeListener('SIGTERM', l);
}

/** Loaded models by weights and load options; the oldest is disposed past `size`. */
class ModelCache {
  private readonly models = new Map<string, { model: Model; name: string; nanWeights: boolean }>();
  constructor(
    private readonly device: GPUDevice,
    private readonly log: (line: string) => void,
    private readonly size = 2,
  ) {}

  async get(a: SegmentArgs): Promise<{ model: Model; name: string; nanWeights: boolean; loadMs: number }> {
    const key = JSON.stringify([a.weights, a.activation ?? null, a.limits]);
    const hit = this.models.get(key);
    if (hit) {
      this.models.delete(key); // most recently used last
      this.models.set(key, hit);
      return { ...hit, loadMs: 0 };
    }
    const t0 = performance.now();
    const arg = await readWeightsArg(a.weights, a.limits);
    const model = await openModel(this.device, arg, { activation: a.activation }, this.log);
    const entry = { model, name: arg.name, nanWeights: weightsNonFinite(model.info.warnings) };
    this.models.set(key, entry);
    for (const [k, e] of this.models) {
      if (this.models.size <= this.size) break;
      this.models.delete(k);
      e.model.dispose();
    }
    return { ...entry, loadMs: performance.now() - t0 };
  }

  dispose(): void {
    for (const e of this.models.values()) e.model.dispose();
    this.models.clear();
  }
}

async function runJob(job: Job<JobData, JobResult>, models: ModelCache, tag: string, log: (line: string) => void): Promise<JobResult> {
  const t0 = performance.now();
  const d = job.data;
  const attempt = job.attemptsStarted || job.attemptsMade + 1; // starts, a stalled one included
  const queued = (job.processedOn ?? Date.now()) - job.timestamp;
  try {
    if (d.kind === 'nnunet') return await runCase(job, tag, t0, queued);
    const a = parseSegmentArgs(segmentArgv(d));
    if (!a) throw new UsageError('worker: the job asks for --help');
    const { model, name, nanWeights, loadMs } = await models.get(a);
    makeOutputDir(a.outDir, '--out-dir');
    const input = d.inputs[0];
    const settings = modelSettings(a, model, name, nanWeights, [input, ...modelFiles(a.weights)]);
    const kind = sniff(readInputFile(input, 'maxInputBytes', a.limits));
    const ext = kind === 'nifti-gz' ? '.nii.gz' : kind === 'nifti' ? '.nii' : '.png';
    const multiClass = isMultiClass(model.info);
    const outputs = outputSet(d.name, ext, model.info.outChannels, { probs: a.probs, multiClass }, ext === '.png').map((o) => join(a.outDir, o.file));
    const reused = await prepare(job, outputs, a.overwrite);
    if (reused) return { ...reused, attempt, reused: true, worker: tag };
    const t1 = performance.now();
    let last = 0;
    await segmentOne(model, input, d.name, { ...settings, overwrite: true }, (f) => {
      // at most a few updates a second: each is a Redis round trip
      const now = performance.now();
      if (now - last < 250) return;
      last = now;
      job.updateProgress(Math.round(f * 1000) / 10).catch(() => undefined);
    });
    const result: JobResult = {
      inputs: d.inputs,
      outputs,
      ms: { queued, load: loadMs, segment: performance.now() - t1, total: performance.now() - t0 },
      worker: tag,
      attempt,
    };
    return await finish(job, outputs, result);
  } catch (e) {
    // bad options or a refused model do not get better by retrying
    if (e instanceof UnrecoverableError) throw e;
    if (e instanceof UsageError) throw new UnrecoverableError(cliText(e.message));
    if (e instanceof CliError || e instanceof Error) throw new Error(cliText(e.message).split('\n')[0]);
    log(`${job.id}: ${String(e)}`);
    throw e;
  }
}

/**
 * Steps 1 to 3 of the header: claims the outputs for this job, removes dead temporaries, and returns the
 * recorded result when the outputs are already in place and unchanged.
 */
async function prepare(job: Job<JobData, JobResult>, outputs: string[], overwrite: boolean): Promise<Omit<JobResult, 'attempt' | 'worker'> | undefined> {
  const d = job.data;
  if (d.done && outputs.every((o) => d.done?.files[o] !== undefined && sha256(o) === d.done.files[o])) return d.done.result;
  if (!d.writing) {
    const there = outputs.find((o) => statOrUndefined(o));
    if (there !== undefined && !overwrite)
      throw new UnrecoverableError(`${printable(d.inputs[0])}: its output ${printable(there)} already exists (pass --overwrite to replace it)`);
    await job.updateData({ ...d, writing: true });
  }
  for (const o of outputs) removeDeadTemporaries(o);
  return undefined;
}

/** Step 5: records the outputs' digests, so a redo of this job keeps them as they are. */
async function finish(job: Job<JobData, JobResult>, outputs: string[], result: JobResult): Promise<JobResult> {
  const files = Object.fromEntries(outputs.map((o) => [o, sha256(o) ?? '']));
  await job.updateData({ ...job.data, writing: true, done: { files, result } });
  return result;
}

const sha256 = (path: string): string | undefined => {
  try {
    return createHash('sha256').update(readFileSync(path)).digest('hex');
  } catch {
    return undefined;
  }
};

/** `.NAME.tmp-PID-N` files (files.ts tempName) for `out` whose process is gone from this machine. */
function removeDeadTemporaries(out: string): void {
  const prefix = `.${basename(out)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dirname(out)).filter((n) => n.startsWith(prefix));
  } catch {
    return;
  }
  for (const n of names) {
    const pid = Number(/^(\d+)-\d+$/.exec(n.slice(prefix.length))?.[1]);
    if (!(pid > 0) || pid === process.pid || alive(pid)) continue;
    try {
      unlinkSync(join(dirname(out), n));
    } catch {
      // another worker removed it first
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One nnU-Net case, through predictCases (which loads the model itself: nnU-Net models are not cached
 * yet). Its error lines go to stderr as `unet: CASE...: problem`; the one naming the case becomes the
 * job's error.
 */
async function runCase(job: Job<JobData, JobResult>, tag: string, t0: number, queued: number): Promise<JobResult> {
  const d = job.data;
  const run = parseSegmentNnunetArgs(segmentArgv(d));
  const ending = d.inputs[0].endsWith('.nii.gz') ? '.nii.gz' : d.inputs[0].endsWith('.nii') ? '.nii' : '.png';
  const outputs = [join(d.outDir, `${d.name}${ending}`), ...(run.probabilities ? [join(d.outDir, `${d.name}.npz`)] : [])];
  const attempt = job.attemptsStarted || job.attemptsMade + 1; // starts, a stalled one included
  const reused = await prepare(job, outputs, run.overwrite);
  if (reused) return { ...reused, attempt, reused: true, worker: tag };
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    lines.push(String(chunk));
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
  const t1 = performance.now();
  let code: number;
  try {
    await job.updateProgress(0);
    code = await predictCases({ ...run, overwrite: true, progress: false });
  } finally {
    process.stderr.write = write;
  }
  if (code !== 0) {
    const line = lines.flatMap((l) => l.split('\n')).find((l) => l.startsWith('unet: ') && l.includes(d.name)) ?? `case ${d.name} failed`;
    throw new Error(line.replace(/^unet: /, ''));
  }
  await job.updateProgress(100);
  const result: JobResult = {
    inputs: d.inputs,
    outputs,
    ms: { queued, load: 0, segment: performance.now() - t1, total: performance.now() - t0 },
    worker: tag,
    attempt,
  };
  return finish(job, outputs, result);
}
