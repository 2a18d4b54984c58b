// What `unet queue` and `unet worker` share: the Redis connection (its URL never printed), the options
// both take, and a job as BullMQ stores it. A job is one input of `unet segment` (one case of an nnU-Net
// run): the input's absolute path(s), the output folder, the weights and segment's other options as
// argv, so the worker parses them with segment's own parser and writes the files segment would write.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'bullmq';
import { CliError, UsageError } from './errors.js';
import { isWeightsUrl } from './model.js';

/** A job's data (JSON in Redis). */
export interface JobData {
  /** 'image': an image or a volume, segmented as `unet segment` segments it; 'nnunet': one case */
  kind: 'image' | 'nnunet';
  /** absolute paths: one file, or an nnU-Net case's channel files */
  inputs: string[];
  /** output stem (images) or case id (nnU-Net) */
  name: string;
  outDir: string;
  weights: string;
  /** segment's other options, as given */
  options: string[];
  /** set by a worker before it writes anything: outputs found later are this job's own (see worker.ts) */
  writing?: boolean;
  /** set by a worker once the outputs are in place: their sha256, and the job's return value */
  done?: { files: Record<string, string>; result: JobResult };
}

/** A job's return value. */
export interface JobResult {
  inputs: string[];
  outputs: string[];
  /** milliseconds: waiting in the queue, loading the model (0 when cached), segmenting and writing */
  ms: { queued: number; load: number; segment: number; total: number };
  worker: string;
  attempt: number;
  /** the outputs were already in place from an attempt a killed worker finished: nothing was rewritten */
  reused?: boolean;
}

/** The argv `unet segment` would take for this job alone (no `--`: the inputs are absolute paths, never options). */
export const segmentArgv = (d: JobData): string[] => [...d.options, '--weights', d.weights, '--out-dir', d.outDir, ...d.inputs];

/**
 * The job's id: a hash of what decides its outputs (inputs, output folder, weights, options), so adding
 * the same input again names the same job and BullMQ keeps the one it has. BullMQ refuses ids that are
 * integers or hold ':'; a hex digest after a prefix is neither.
 */
export function jobId(d: Pick<JobData, 'inputs' | 'outDir' | 'weights' | 'options'>): string {
  const key = JSON.stringify([d.inputs, d.outDir, d.weights, d.options]);
  return `unet-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

/** Weights as the job names them: an absolute path (workers may start elsewhere), a URL as it is. */
export const weightsKey = (w: string): string => (isWeightsUrl(w) ? w : resolve(w));

/** The options every queue command and the worker take. */
export interface QueueTarget {
  url: string;
  name: string;
}

/** Takes `--redis URL` and `--queue NAME` (also `--opt=value`) out of `args`; the rest is returned as it was. */
export function takeOptions(command: string, args: string[], names: readonly string[]): { values: Map<string, string>; rest: string[] } {
  const values = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : '';
    if (!names.includes(name)) {
      rest.push(a);
      continue;
    }
    const v = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (v === undefined || v === '') throw new UsageError(`${command}: --${name} needs a value`);
    values.set(name, v);
  }
  return { values, rest };
}

/** --redis and --queue, required; the URL must be redis:// or rediss:// (TLS, passed through to ioredis). */
export function queueTarget(command: string, values: Map<string, string>): QueueTarget {
  const url = values.get('redis');
  const name = values.get('queue');
  if (url === undefined) throw new UsageError(`${command}: --redis URL is required (redis://[:password@]host:port[/db], or rediss:// for TLS)`);
  if (name === undefined) throw new UsageError(`${command}: --queue NAME is required`);
  if (!/^rediss?:\/\//i.test(url))
    throw new UsageError(`${command}: --redis must be a redis:// or rediss:// URL, found ${JSON.stringify(redact(url, url).slice(0, 60))}`);
  if (!/^[\w.-]{1,100}$/.test(name))
    throw new UsageError(`${command}: --queue must be 1 to 100 letters, digits, '_', '.' or '-', found ${JSON.stringify(name.slice(0, 60))}`);
  return { url, name };
}

/**
 * BullMQ's connection: ioredis parses the URL (a password, a db number, rediss:// for TLS). `worker`:
 * workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest null); the queue
 * commands give up after a few tries, so an unreachable server is an error, not a hang.
 */
export function connection(url: string, worker: boolean): ConnectionOptions {
  if (worker) return { url, maxRetriesPerRequest: null } as ConnectionOptions;
  return { url, maxRetriesPerRequest: 1, connectTimeout: 5000, retryStrategy: (times: number) => (times > 3 ? null : 200 * times) } as ConnectionOptions;
}

/**
 * `text` with the Redis URL's credentials replaced by ***: the URL itself, its password (raw and decoded),
 * and any user:password@ in a redis URL. Every message and log line of the queue commands goes through it.
 */
export function redact(text: string, url: string): string {
  let out = text;
  const secrets = new Set<string>();
  try {
    const u = new URL(url);
    if (u.password) {
      secrets.add(u.password);
      secrets.add(decodeURIComponent(u.password));
    }
    if (u.username) secrets.add(decodeURIComponent(u.username));
  } catch {
    // not a URL: nothing but the whole string to hide
  }
  out = out.split(url).join('<redis>');
  for (const s of [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length)) out = out.split(s).join('***');
  return out.replace(/(rediss?:\/\/)[^@\s/]*@/gi, '$1***@');
}

/** An error as a one-line CliError with the URL redacted (a UsageError stays one). */
export function redactedError(e: unknown, url: string): CliError {
  const message = redact(e instanceof Error ? e.message : String(e), url);
  if (e instanceof UsageError) return new UsageError(message);
  if (e instanceof CliError) return new CliError(message, e.exitCode);
  return new CliError(/^redis|connect|ECONNREFUSED|ENOTFOUND|ETIMEDOUT|max retries/i.test(message) ? `redis: ${message}` : message);
}
