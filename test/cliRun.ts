// Running `node bin/unet.js ...` as a child process for the convert / segment CLI tests (the same
// conventions as test/cli.test.ts): exit code, stdout, stderr without Dawn's own log lines.
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DAWN_LOG = /^Warning: /;

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stderr without empty lines and Dawn's log lines */
  lines: string[];
}

export function unet(...args: string[]): Result {
  const r = spawnSync(process.execPath, ['bin/unet.js', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, UNET_DEBUG: '' },
  });
  if (r.error) throw r.error;
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !DAWN_LOG.test(l));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines };
}

/** A failed run: exit code, exactly one `unet: ` line on stderr matching `pattern`, no stack trace. */
export function assertOneLineError(r: Result, pattern: RegExp, code = 1): void {
  const why = `exit ${r.code}, stderr:\n${r.stderr}`;
  assert.is(r.code, code, why);
  assert.is(r.lines.length, 1, `expected one line; ${why}`);
  assert.ok(r.lines[0].startsWith('unet: '), why);
  assert.match(r.lines[0], pattern, why);
  assert.not.match(r.stderr, /^\s+at /m, why);
}

/** Temporary directories, removed by cleanup(). */
export function tempDirs(prefix: string): { dir(): string; cleanup(): void } {
  const made: string[] = [];
  return {
    dir: () => {
      const d = mkdtempSync(join(tmpdir(), prefix));
      made.push(d);
      return d;
    },
    cleanup: () => {
      for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
