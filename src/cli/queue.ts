// `unet queue add|status|retry-failed|drain`: a BullMQ queue on Redis that `unet worker` processes run.
// `add` checks the command line as `unet segment` would (its parser), then adds one job per input (one
// per case for an nnU-Net model) under an id hashed from what decides the outputs (queueJobs.ts jobId), so
// adding the same inputs again adds nothing. Retries: --attempts, with exponential backoff from
// --backoff-ms. Completed and failed jobs are kept, for `status` and `retry-failed`.
import { readdirSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { printable } from '../limits.js';
import { cliText, UsageError } from './errors.js';
import { statOrUndefined } from './files.js';
import { isNnunetPath } from './nnunet.js';
import { groupCases } from './predict.js';
import { parseSegmentNnunetArgs, weightsOf } from './predictArgs.js';
import { connection, type JobData, jobId, type QueueTarget, queueTarget, redact, redactedError, takeOptions, weightsKey } from './queueJobs.js';
import { parseSegmentArgs } from './segmentArgs.js';
import { expandInputs } from './segmentInputs.js';

export const QUEUE_USAGE = `Usage:
  unet queue add --redis URL --queue NAME --weights W --out-dir DIR [segment options] IN... [--attempts 3] [--backoff-ms 1000]
  unet queue status --redis URL --queue NAME [--json]
  unet queue retry-failed --redis URL --queue NAME
  unet queue drain --redis URL --queue NAME

A work queue on Redis (BullMQ) for \`unet worker\` processes, one per GPU, on any number of machines
that see the same files. add: one job per input (folders expanded as unet segment expands them; one per
case for an nnU-Net results folder), taking unet segment's options; its id is a hash of the input, the
output folder, the weights and the options, so adding the same inputs again adds nothing. A job's
outputs are the files unet segment writes for that input. A job that fails is retried --attempts times
in all (default 3), waiting --backoff-ms (default 1000) times 2^(try - 1) between tries, then kept as
failed with its one-line error.
status: waiting / active / completed / failed counts, the failed jobs and their errors, throughput.
retry-failed: moves the failed jobs back to waiting. drain: removes the waiting and delayed jobs (the
active ones finish).
URL: redis://[:password@]host:port[/db], rediss:// for TLS. It is never printed.
`;

export async function queue(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(QUEUE_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(QUEUE_USAGE);
    return 0;
  }
  const run = SUBCOMMANDS[sub];
  if (!Object.hasOwn(SUBCOMMANDS, sub) || !run)
    throw new UsageError(`queue: unknown subcommand ${JSON.stringify(sub.slice(0, 40))} (add, status, retry-failed, drain; see unet queue --help)`);
  const command = `queue ${sub}`;
  const { values, rest: other } = takeOptions(command, rest, ['redis', 'queue', 'attempts', 'backoff-ms']);
  const target = queueTarget(command, values);
  const q = new Queue<JobData>(target.name, { connection: connection(target.url, false) });
  let connectionError: unknown;
  q.on('error', (e) => {
    connectionError ??= e;
  });
  try {
    return await run(q, target, values, other, command);
  } catch (e) {
    throw redactedError(connectionError && !(e instanceof UsageError) ? connectionError : e, target.url);
  } finally {
    await q.close().catch(() => undefined);
  }
}

type Subcommand = (q: Queue<JobData>, t: QueueTarget, values: Map<string, string>, args: string[], command: string) => Promise<number>;

const SUBCOMMANDS: Record<string, Subcommand | undefined> = {
  add,
  status,
  'retry-failed': retryFailed,
  drain,
};

function noArgs(command: string, args: string[], allowed: string[] = []): void {
  const extra = args.filter((a) => !allowed.includes(a));
  if (extra.length) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(extra[0].slice(0, 60))} (see unet queue --help)`);
}

/** A whole number >= min from an option, or its default. */
function count(command: string, values: Map<string, string>, name: string, fallback: number, min: number): number {
  const v = values.get(name);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min)
    throw new UsageError(`${command}: --${name} must be a whole number >= ${min}, found ${JSON.stringify(v.slice(0, 40))}`);
  return Number(v);
}

async function add(q: Queue<JobData>, t: QueueTarget, values: Map<string, string>, args: string[], command: string): Promise<number> {
  const attempts = count(command, values, 'attempts', 3, 1);
  const delay = count(command, values, 'backoff-ms', 1000, 0);
  for (const a of args) {
    if (a === '--num-parts' || a === '--part-id' || a.startsWith('--num-parts=') || a.startsWith('--part-id='))
      throw new UsageError(`${command}: ${a.replace(/=.*/, '')} shards a run; a queue hands its jobs to workers instead`);
    if (a === '--json') throw new UsageError(`${command}: --json is for unet segment's summary; see the outputs with unet queue status --json`);
  }
  const w = weightsOf(args);
  const jobs: JobData[] = [];
  const problems: string[] = [];
  if (w !== undefined && isNnunetPath(w)) {
    const run = parseSegmentNnunetArgs(args);
    const options = optionsOf(args, [...run.inputs], run.model, run.outDir);
    for (const c of groupCases(run.inputs, caseEnding(run.inputs), command))
      jobs.push({ kind: 'nnunet', inputs: c.files.map((f) => resolve(f)), name: c.id, outDir: resolve(run.outDir), weights: weightsKey(run.model), options });
  } else {
    const a = parseSegmentArgs(args);
    if (a === undefined) throw new UsageError(`${command}: see unet queue --help`);
    const options = optionsOf(args, a.paths, a.weights, a.outDir);
    const { inputs, failures } = expandInputs(a.paths, a.outDir);
    for (const f of failures) problems.push(`${printable(f.input)}: ${f.error}`);
    for (const i of inputs)
      jobs.push({ kind: 'image', inputs: [resolve(i.path)], name: i.name, outDir: resolve(a.outDir), weights: weightsKey(a.weights), options });
  }
  const ids = jobs.map(jobId);
  const existing = new Set<string>();
  for (const id of ids) if (await q.getJob(id)) existing.add(id);
  await q.addBulk(
    jobs.map((data, k) => ({
      name: data.kind === 'nnunet' ? `case ${data.name}` : basename(data.inputs[0]),
      data,
      opts: { jobId: ids[k], attempts, backoff: { type: 'exponential', delay }, removeOnComplete: false, removeOnFail: false },
    })),
  );
  for (const p of problems) process.stderr.write(`unet: ${cliText(redact(p, t.url))}\n`);
  const added = ids.filter((id) => !existing.has(id)).length;
  const already = existing.size ? ` (${existing.size} already in the queue: not added again)` : '';
  process.stdout.write(`queue ${t.name}: added ${added} job${added === 1 ? '' : 's'}${already}\n`);
  return problems.length ? 1 : 0;
}

/**
 * segment's options without the inputs, --weights and --out-dir (the job holds them apart, absolute). The
 * inputs are the positional arguments, taken from the end: an input named like an option's value is
 * taken for the input, which only changes the job id, never what the job does.
 */
function optionsOf(args: string[], inputs: string[], weights: string, outDir: string): string[] {
  const { rest } = takeOptions('queue add', args, ['weights', 'out-dir']);
  const out: string[] = [];
  let i = 0;
  while (i < rest.length) {
    const a = rest[i];
    if ((a === '-w' && rest[i + 1] === weights) || (a === '-o' && rest[i + 1] === outDir)) i += 2;
    else {
      out.push(a);
      i++;
    }
  }
  const left = [...inputs];
  for (let k = out.length - 1; k >= 0 && left.length; k--) {
    if (out[k] === left[left.length - 1]) {
      out.splice(k, 1);
      left.pop();
    }
  }
  return out.filter((a) => a !== '--');
}

/** An nnU-Net dataset's file ending, from the files given (the model's dataset.json is read by the worker). */
function caseEnding(paths: string[]): string {
  const names: string[] = [];
  for (const p of paths) {
    const s = statOrUndefined(p);
    if (s?.isDirectory()) names.push(...readdirSync(p).filter((n) => !n.startsWith('.')));
    else names.push(basename(p));
  }
  if (names.some((n) => n.endsWith('.nii.gz'))) return '.nii.gz';
  if (names.some((n) => n.endsWith('.nii'))) return '.nii';
  if (names.some((n) => n.endsWith('.png'))) return '.png';
  return '.nii.gz';
}

interface Status {
  queue: string;
  counts: Record<string, number>;
  failed: { id: string; inputs: string[]; attempts: number; error: string }[];
  throughput: { jobs: number; seconds: number; jobsPerSecond: number } | null;
}

async function status(q: Queue<JobData>, t: QueueTarget, _values: Map<string, string>, args: string[], command: string): Promise<number> {
  noArgs(command, args, ['--json']);
  const counts = await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'paused', 'prioritized');
  const failedJobs = await q.getFailed(0, 99);
  const completed = await q.getCompleted(0, 9999);
  // throughput over the span the completed jobs cover: first start to last finish
  let throughput: Status['throughput'] = null;
  const spans = completed.filter((j) => j.processedOn && j.finishedOn);
  if (spans.length) {
    const first = Math.min(...spans.map((j) => j.processedOn ?? 0));
    const last = Math.max(...spans.map((j) => j.finishedOn ?? 0));
    const seconds = Math.max(last - first, 1) / 1000;
    throughput = { jobs: spans.length, seconds, jobsPerSecond: Math.round((spans.length / seconds) * 1000) / 1000 };
  }
  const s: Status = {
    queue: t.name,
    counts,
    failed: failedJobs.map((j) => ({
      id: String(j.id),
      inputs: j.data.inputs,
      attempts: j.attemptsMade,
      error: redact(j.failedReason ?? '', t.url),
    })),
    throughput,
  };
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify(s)}\n`);
    return 0;
  }
  const c = counts;
  const lines = [
    `queue ${t.name}: ${c.waiting + (c.prioritized ?? 0)} waiting, ${c.active} active, ${c.completed} completed, ${c.failed} failed, ${c.delayed} delayed (retrying)${c.paused ? `, ${c.paused} paused` : ''}`,
  ];
  if (throughput) lines.push(`throughput: ${throughput.jobs} jobs in ${throughput.seconds.toFixed(1)} s (${throughput.jobsPerSecond.toFixed(2)} jobs/s)`);
  for (const f of s.failed)
    lines.push(`failed ${f.id} ${f.inputs.map((p) => printable(p)).join(' ')} after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}: ${cliText(f.error)}`);
  if (c.failed > s.failed.length) lines.push(`... and ${c.failed - s.failed.length} more failed`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function retryFailed(q: Queue<JobData>, t: QueueTarget, _values: Map<string, string>, args: string[], command: string): Promise<number> {
  noArgs(command, args);
  const n = await q.getFailedCount();
  if (n) await q.retryJobs({ state: 'failed' });
  process.stdout.write(`queue ${t.name}: ${n} failed job${n === 1 ? '' : 's'} moved back to waiting\n`);
  return 0;
}

async function drain(q: Queue<JobData>, t: QueueTarget, _values: Map<string, string>, args: string[], command: string): Promise<number> {
  noArgs(command, args);
  const c = await q.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
  await q.drain(true);
  const n = c.waiting + c.delayed + (c.prioritized ?? 0);
  process.stdout.write(`queue ${t.name}: removed ${n} waiting job${n === 1 ? '' : 's'}${c.active ? ` (${c.active} active still finish)` : ''}\n`);
  return 0;
}
