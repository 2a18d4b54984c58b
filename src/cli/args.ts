// Option parsing for the subcommands: node:util parseArgs in strict mode, with its errors turned into
// one-line usage errors that name the offending argument.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { didYouMean } from '../errors.js';
import { UsageError } from './errors.js';

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }>;
export type OptionValues<O extends OptionSpec> = { [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

/** Parses `args` for `unet <command>`; unknown options, missing values and stray arguments -> UsageError. */
export function parseCommandArgs<O extends OptionSpec>(command: string, args: string[], options: O): OptionValues<O> {
  return parseCommandLine(command, args, options, false).values;
}

/** parseCommandArgs for commands that also take positional arguments (file names). */
export function parseCommandLine<O extends OptionSpec>(
  command: string,
  args: string[],
  options: O,
  allowPositionals = true,
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

/**
 * Takes a list option out of `args` before strict parsing, as nnUNetv2_predict's `-f 0 1 2` takes it:
 * `--NAME 0 1`, `--NAME 0,1`, `--NAME=0,1` and repeated `--NAME`s all add to one list. The values after
 * `--NAME` are taken while they match `value` (so `--folds 0 1 RESULTS` leaves the folder a positional);
 * parseArgs alone would read `1` as a stray argument. Returns the rest of the arguments and the values
 * (undefined when the option is absent); `--NAME` with no value is a UsageError.
 */
export function takeListOption(command: string, args: string[], name: string, value: RegExp): { args: string[]; values?: string[] } {
  const rest: string[] = [];
  let values: string[] | undefined;
  const flag = `--${name}`;
  const split = (s: string) => s.split(',').filter((v) => v !== '');
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      rest.push(...args.slice(i));
      break;
    }
    if (a.startsWith(`${flag}=`)) {
      values = [...(values ?? []), ...split(a.slice(flag.length + 1))];
      if (a === `${flag}=`) throw new UsageError(`${command}: ${flag} needs a value`);
      continue;
    }
    if (a !== flag) {
      rest.push(a);
      continue;
    }
    // the first value is taken whatever it is (a bad one is the caller's to name); more only while they match
    const first = args[i + 1];
    if (first === undefined || first.startsWith('-') || split(first).length === 0) {
      throw new UsageError(`${command}: ${flag} needs a value${first === undefined ? '' : ` (found ${JSON.stringify(first.slice(0, 100))})`}`);
    }
    const taken = split(args[++i]);
    while (i + 1 < args.length && split(args[i + 1]).length > 0 && split(args[i + 1]).every((v) => value.test(v))) taken.push(...split(args[++i]));
    values = [...(values ?? []), ...taken];
  }
  return { args: rest, values };
}
