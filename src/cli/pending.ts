// Files the CLI has started to write but not finished: temporaries not yet renamed into place, and the
// outputs of a set placed while the rest of the set is still going in. A failure removes them where it
// happens (files.ts, outputs.ts); a signal removes them here. The handlers for SIGINT, SIGTERM and SIGHUP
// are installed with the first pending file and kept until the process ends: removing them when the
// registry empties would drop a signal that arrived during a synchronous write (libuv discards it once its
// handle is stopped). A handler removes what is pending, says so in one line, and ends the process by the
// same signal, as it would have ended with no handler (a shell sees 130 for SIGINT, 143 for SIGTERM).
// Until the first file is pending no handler exists, so Ctrl-C stops a command at once, as Node's default.
import { unlinkSync } from 'node:fs';
import { constants } from 'node:os';

const pending = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let installed = false;

/** `path` is being written: removed if the process is stopped by a signal before settle(path). */
export function track(path: string): void {
  pending.add(path);
  if (!installed) {
    installed = true;
    for (const s of SIGNALS) process.on(s, onSignal);
  }
}

/** `path` is finished (renamed into place, or removed): a signal no longer touches it. */
export function settle(path: string): void {
  pending.delete(path);
}

/** Removes `path` if it is there, and settles it. */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // never created, or already gone
  }
  pending.delete(path);
}

function onSignal(signal: NodeJS.Signals): void {
  const n = pending.size;
  for (const p of [...pending]) removeQuietly(p);
  for (const s of SIGNALS) process.removeListener(s, onSignal);
  const clear = process.stderr.isTTY ? '\r\x1b[K' : ''; // over a progress bar
  if (n > 0) process.stderr.write(`${clear}unet: stopped by ${signal}: removed ${n} unfinished output file${n === 1 ? '' : 's'}\n`);
  // With no listener left, the default action applies again: the process ends by the signal itself.
  process.kill(process.pid, signal);
  // a signal sent to itself is delivered before kill() returns; should the process still be here, it
  // exits with the code a shell gives a signal death
  process.exit(128 + (constants.signals[signal] ?? 0));
}
