// Option parsing for the subcommands: node:util parseArgs in strict mode, with its errors turned into
// one-line usage errors that name the offending argument.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.js';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;
export type OptionValues<O extends OptionSpec> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

/** Parses `args` for `unet <command>`; unknown options, missing values and stray arguments -> UsageError. */
export function parseCommandArgs<O extends OptionSpec>(command: string, args: string[], options: O): OptionValues<O> {
  return parseCommandLine(command, args, options, false).values;
}

/** parseCommandArgs for commands that also take positional arguments (file names). */
export function parseCommandLine<O extends OptionSpec>(
  command: string, args: string[], options: O, allowPositionals = true,
): { values: OptionValues<O>; positionals: string[] } {
  try {
    const config: ParseArgsConfig = { args, options, strict: true, allowPositionals };
    const r = parseArgs(config);
    return { values: r.values as OptionValues<O>, positionals: r.positionals };
  } catch (e) {
    if (!String((e as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS')) throw e;
    const problem = diagnose(args, options, allowPositionals) ?? (e as Error).message.split('\n')[0];
    throw new UsageError(`${command}: ${problem} (see unet ${command} --help)`);
  }
}

/** Finds the argument strict parsing rejected, by reparsing leniently and walking the tokens. */
function diagnose(args: string[], options: OptionSpec, allowPositionals = false): string | undefined {
  const { tokens } = parseArgs({ args, options: options as ParseArgsConfig['options'], strict: false, allowPositionals: true, tokens: true });
  for (const t of tokens) {
    if (t.kind === 'positional' && !allowPositionals) return `unexpected argument ${JSON.stringify(t.value)}`;
    if (t.kind !== 'option') continue;
    const spec = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (!spec) return `unknown option ${t.rawName}${didYouMean(t.name, Object.keys(options), '--')}`;
    if (spec.type === 'boolean' && t.value !== undefined) return `${t.rawName} takes no value`;
    if (spec.type === 'string') {
      if (t.value === undefined) return `${t.rawName} needs a value`;
      if (!t.inlineValue && t.value.startsWith('-')) {
        return `${t.rawName} needs a value (found the option ${t.value})`;
      }
    }
  }
  return undefined;
}

/** A required string option: present and not empty. */
export function required(command: string, name: string, value: string | boolean | undefined): string {
  if (typeof value !== 'string') throw new UsageError(`${command}: --${name} is required (see unet ${command} --help)`);
  if (value === '') throw new UsageError(`${command}: --${name} is empty`);
  return value;
}

/** `; did you mean --xyz?` when one of `candidates` is within a typo of `word`, else ''. */
export function didYouMean(word: string, candidates: string[], prefix = ''): string {
  const best = closest(word, candidates);
  return best === undefined ? '' : `; did you mean ${prefix}${best}?`;
}

/** The candidate nearest to `word` by edit distance, if it is near enough to be a typo: at most a third
 *  of the word's length (1 for short words, 2 from 6 letters on, ...); an unambiguous prefix also counts. */
export function closest(word: string, candidates: string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(w.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  if (best !== undefined) return best;
  const prefixed = candidates.filter((c) => w.length >= 3 && c.startsWith(w));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Levenshtein distance, with a swap of two neighbouring letters counted as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
