// `-` for standard input or output where a command takes a file name.
import { readFileSync } from 'node:fs';
import { CliError, UsageError, fsError } from './errors.js';

/** The file name that stands for stdin (as an input) or stdout (as an output). */
export const STDIO = '-';

/** All of stdin (a pipe or a redirected file); a terminal is refused rather than waited on. */
export function readStdin(command: string, flag: string): Uint8Array {
  if (process.stdin.isTTY) throw new UsageError(`${command}: ${flag} - reads stdin, which is a terminal: pipe or redirect a file into it`);
  try {
    return readFileSync(0);
  } catch (e) {
    throw fsError('stdin', 'read', e);
  }
}

/** Refuses a terminal as the destination of binary output before any work is done. */
export function checkStdout(command: string, flag: string): void {
  if (process.stdout.isTTY) throw new UsageError(`${command}: ${flag} - writes binary data to stdout, which is a terminal: pipe or redirect it`);
}

/** Writes `bytes` to stdout; the CLI waits for stdout to drain before it exits (main.ts). */
export function writeStdout(bytes: Uint8Array): void {
  process.stdout.write(bytes, (e) => {
    if (e && (e as NodeJS.ErrnoException).code !== 'EPIPE')
      process.stderr.write(`unet: ${new CliError(`stdout: cannot write (${(e as NodeJS.ErrnoException).code ?? e.message})`).message}\n`);
  });
}
