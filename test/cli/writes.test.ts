// `unet segment` leaves nothing half-written: a full disk (a 300 KB tmpfs), SIGTERM / SIGINT while a set
// is written (UNET_WRITE_PAUSE_MS holds the write phase open), and a read-only --out-dir that is reported
// with its real errno. The tmpfs cases need `mount` (root); where it fails they are skipped (test/skip.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../../src/io/png.js';
import { ROOT, assertOneLineError, tempDirs, unet } from '../cliRun.js';
import { skip } from '../skip.js';

const WEIGHTS = 'assets/demo/nuclei_unet.safetensors'; // 1 -> 1 channels
const SAMPLE = 'assets/demo/samples/nuclei_01.png';
const tmp = tempDirs('unet-writes-');
const mounted: string[] = [];

/** Mounts a tmpfs with `options` on a new directory; a string is why it could not (the test is skipped). */
function tmpfs(options: string): { dir: string } | string {
  const dir = join(tmp.dir(), 'mnt');
  mkdirSync(dir);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `mount -t tmpfs -o ${options} failed (${(r.error?.message ?? r.stderr).trim() || `exit ${r.status}`})`;
  mounted.push(dir);
  return { dir };
}

function unmount(dir: string): void {
  spawnSync('umount', [dir]);
  mounted.splice(mounted.indexOf(dir), 1);
}

/** A gray PNG of xorshift noise: it does not compress, so its outputs are large. */
function noisePng(width: number, height: number, seed = 7): Uint8Array {
  let s = seed;
  const data = Uint8Array.from({ length: width * height }, () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s & 255;
  });
  return encodePng({ width, height, channels: 1, data });
}

const Writes = suite('cli: segment writes all or nothing');
Writes.after(() => {
  for (const d of [...mounted]) unmount(d);
  tmp.cleanup();
});

Writes('disk full (a 300 KB tmpfs): one error line, no .tmp- file, no partial set', () => {
  const m = tmpfs('size=300k');
  if (typeof m === 'string') return skip(`disk full: ${m}`);
  try {
    const input = join(tmp.dir(), 'noise.png');
    // 400 x 400: the 16-bit probabilities alone are about 300 KB once the mask is in
    writeFileSync(input, noisePng(400, 400));
    const r = unet('segment', input, '--weights', WEIGHTS, '--out-dir', m.dir, '--probs');
    assert.is(r.code, 1, r.stderr);
    assert.equal(r.lines.length, 2, r.stderr);
    assert.match(r.lines[0], /^unet: .*noise\.png: .*noise_(mask|probs|overlay)\.png: cannot write \(ENOSPC\)$/, r.stderr);
    assert.is(r.lines[1], 'unet: 1 of 1 inputs failed');
    assert.equal(readdirSync(m.dir), [], 'neither temporaries nor the outputs already written');
  } finally {
    unmount(m.dir);
  }
});

/** Runs segment with the write phase held open, sends `signal` once a temporary of `stem` exists. */
async function interrupted(
  signal: NodeJS.Signals,
  inputs: string[],
  out: string,
  stem: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; seen: string[] }> {
  const child = spawn(process.execPath, ['bin/unet.js', 'segment', ...inputs, '--weights', WEIGHTS, '--out-dir', out, '--probs'], {
    cwd: ROOT,
    env: { ...process.env, UNET_DEBUG: '', UNET_WRITE_PAUSE_MS: '1500' },
  });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, sig) => resolve([code, sig])));
  const temp = new RegExp(`^\\.${stem}_.*\\.tmp-${child.pid}-\\d+$`);
  let seen: string[] = [];
  for (const t0 = Date.now(); Date.now() - t0 < 60_000 && child.exitCode === null; await new Promise((r) => setTimeout(r, 25))) {
    seen = readdirSync(out).sort();
    if (seen.some((f) => temp.test(f))) break;
  }
  assert.ok(
    seen.some((f) => temp.test(f)),
    `no temporary file of ${stem} appeared; stderr:\n${stderr}`,
  );
  child.kill(signal);
  const [code, sig] = await exited;
  return { code, signal: sig, stderr, seen };
}

Writes('SIGTERM while the set is written: the temporary removed, the process ends by SIGTERM (shell: 143)', async () => {
  const out = tmp.dir();
  const r = await interrupted('SIGTERM', [SAMPLE], out, 'nuclei_01');
  assert.equal(readdirSync(out), [], `before the signal: ${r.seen.join(', ')}`);
  assert.equal([r.code, r.signal], [null, 'SIGTERM'], r.stderr);
  assert.match(r.stderr, /^unet: stopped by SIGTERM: removed \d+ unfinished output files?$/m);
});

Writes("SIGINT during the second input: its set removed, the first input's complete set kept (shell: 130)", async () => {
  const d = tmp.dir();
  const out = join(d, 'out');
  mkdirSync(out);
  copyFileSync(SAMPLE, join(d, 'a.png'));
  copyFileSync('assets/demo/samples/nuclei_02.png', join(d, 'b.png'));
  const r = await interrupted('SIGINT', [join(d, 'a.png'), join(d, 'b.png')], out, 'b');
  assert.equal(readdirSync(out).sort(), ['a_mask.png', 'a_overlay.png', 'a_probs.png'], `before the signal: ${r.seen.join(', ')}`);
  assert.equal([r.code, r.signal], [null, 'SIGINT'], r.stderr);
  assert.match(r.stderr, /^unet: stopped by SIGINT: removed \d+ unfinished output files?$/m);
});

Writes('a read-only --out-dir (ro tmpfs) is EROFS, named, before the model runs; so is a folder to create in it', () => {
  const m = tmpfs('ro,size=64k');
  if (typeof m === 'string') return skip(`read-only --out-dir: ${m}`);
  try {
    assertOneLineError(
      unet('segment', SAMPLE, '--weights', WEIGHTS, '--out-dir', m.dir),
      new RegExp(`^unet: ${m.dir}: cannot write to --out-dir \\(EROFS\\)$`),
    );
    // Node's recursive mkdir says ENOENT here
    assertOneLineError(
      unet('segment', SAMPLE, '--weights', WEIGHTS, '--out-dir', join(m.dir, 'a', 'b')),
      new RegExp(`^unet: ${m.dir}/a: cannot create the directory \\(EROFS\\)$`),
    );
  } finally {
    unmount(m.dir);
  }
});

Writes.run();
