// Fixed shards for batch schedulers: `--num-parts N --part-id I` (nnUNetv2_predict's -num_parts / -part_id)
// run part I of N of the inputs, so a Kubernetes Indexed Job or a SLURM array of N tasks covers them once.
// The partition is a function of the input list alone: the items are sorted by a key (their path, or an
// nnU-Net case id) in code-unit order, never the shell's locale, and part I takes every N-th from I on,
// as nnU-Net's predict_from_files takes list[part_id::num_parts]. Every machine that sees the same list
// computes the same parts; together they are the list, and no two share an item. `--part-id env` reads
// the scheduler's index (JOB_COMPLETION_INDEX, then SLURM_ARRAY_TASK_ID).
import { UsageError } from './errors.js';

export interface Shard {
  numParts: number;
  /** 0-based, < numParts */
  partId: number;
}

/** The environment variables `--part-id env` reads, in order: Kubernetes Indexed Jobs, SLURM job arrays. */
export const PART_ID_ENV = ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID'] as const;

const WHOLE = /^\s*\d+\s*$/;

/**
 * The shard a command line asks for, checked; undefined when neither option is given (the whole list).
 * `flags` names the options in messages (`--num-parts` / `-num_parts`).
 */
export function parseShard(
  command: string,
  numParts: string | undefined,
  partId: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  flags: { numParts: string; partId: string } = { numParts: '--num-parts', partId: '--part-id' },
): Shard | undefined {
  if (numParts === undefined && partId === undefined) return undefined;
  if (numParts === undefined) throw new UsageError(`${command}: ${flags.partId} needs ${flags.numParts} (how many parts the inputs are split into)`);
  if (!WHOLE.test(numParts) || !(Number(numParts) >= 1))
    throw new UsageError(`${command}: ${flags.numParts} must be a whole number >= 1, found ${JSON.stringify(numParts.slice(0, 50))}`);
  const n = Number(numParts);
  let text = partId;
  let from = flags.partId;
  if (text === undefined) {
    if (n === 1) return { numParts: 1, partId: 0 };
    throw new UsageError(`${command}: ${flags.numParts} ${n} needs ${flags.partId} I (0 to ${n - 1}) or ${flags.partId} env`);
  }
  if (text === 'env') {
    const name = PART_ID_ENV.find((k) => env[k] !== undefined && env[k] !== '');
    if (name === undefined) throw new UsageError(`${command}: ${flags.partId} env: neither ${PART_ID_ENV.join(' nor ')} is set`);
    text = env[name] ?? '';
    from = `${flags.partId} env (${name})`;
  }
  if (!WHOLE.test(text) || !(Number(text) < n))
    throw new UsageError(`${command}: ${from} must be a whole number from 0 to ${n - 1} (${flags.numParts} ${n}), found ${JSON.stringify(text.slice(0, 50))}`);
  return { numParts: n, partId: Number(text) };
}

/** Code-unit order: the same on every machine, whatever its locale. */
const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Part `shard.partId` of `items` sorted by `key` (every numParts-th from partId on, in that order); without a shard, all of them as given. */
export function shardOf<T>(items: readonly T[], key: (item: T) => string, shard: Shard | undefined): T[] {
  if (!shard) return [...items];
  const sorted = [...items].sort((a, b) => byKey(key(a), key(b)));
  return sorted.filter((_, i) => i % shard.numParts === shard.partId);
}

/** `part 2 of 3: 4 of 12 inputs` for the summary. */
export function shardNote(shard: Shard, taken: number, total: number, what: string): string {
  return `part ${shard.partId} of ${shard.numParts}: ${taken} of ${total} ${what}`;
}
