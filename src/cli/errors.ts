// How the CLI reports failure: every error is one line on stderr, `unet: <what>: <problem>`, with no
// stack trace (set UNET_DEBUG=1 for one). Usage errors exit 2, everything else 1.
import { printable } from '../limits.js';
import { cliMessage } from './limits.js';

/** An error whose message is already fit to show a user. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line: missing, unknown or malformed options (exit code 2). */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, 2);
    this.name = 'UsageError';
  }
}

/** `path: cannot read (ENOENT)`: a file-system error as one line that names the file. */
export function fsError(path: string, verb: string, e: unknown): CliError {
  const err = e as NodeJS.ErrnoException;
  return new CliError(`${printable(path)}: cannot ${verb} (${err?.code ?? err?.message ?? String(e)})`);
}

export function exitCodeOf(e: unknown): number {
  return e instanceof CliError ? e.exitCode : 1;
}

/** Problems listed after an error's first line, at most (then "... and N more"). */
export const MAX_LISTED_PROBLEMS = 20;
const MAX_LINE_CHARS = 1000;

/**
 * The text printed for an error. The engine's messages already name the file; the U-Net weight mapping
 * lists its problems on indented lines after the first, which is kept: the first 20 of them, then a
 * count. Lines are cut at 1000 characters, control characters (but the line breaks) are escaped, and a
 * limit's hint names the option that raises it. Anything else that is not an Error (a thrown string,
 * ...) is shown as it is.
 */
export function formatError(e: unknown): string {
  if (debugging() && e instanceof Error && e.stack) return `unet: ${e.stack}`;
  const message = e instanceof Error ? e.message : String(e);
  return `unet: ${cliText(message.trimEnd() || (e instanceof Error ? e.name : 'unknown error'))}`;
}

/** A message as shown on the terminal: see formatError. */
export function cliText(message: string): string {
  const lines = cliMessage(message).split('\n');
  // a list the engine already capped ends in its own "... and N more" line
  const capped = /^\s+\.\.\. and \d+ more$/.test(lines[lines.length - 1]) && lines.length - 2 <= MAX_LISTED_PROBLEMS;
  const more = capped ? 0 : lines.length - 1 - MAX_LISTED_PROBLEMS;
  const shown = more > 0 ? [...lines.slice(0, 1 + MAX_LISTED_PROBLEMS), `  ... and ${more} more`] : lines;
  return shown.map((l) => printable(l, MAX_LINE_CHARS)).join('\n');
}

/** UNET_DEBUG set to anything but "" or "0". */
export function debugging(): boolean {
  const v = process.env.UNET_DEBUG;
  return v !== undefined && v !== '' && v !== '0';
}
